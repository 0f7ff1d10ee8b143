/**
 * The sink of one attempt: it stands between the exchange and the client until the attempt is
 * known to be the one the client gets, so a failed attempt leaves no trace on the response.
 *
 *                     head, status not retried ---------> commit: ClientResponder gets the head
 *   [ undecided ] --- head, status retried (http_NNN) --> retry: exchange aborted, nothing written
 *                \--- error, retried -------------------> retry: nothing written
 *                 \-- error, not retried ---------------> commit: the responder's error page
 *                  \- client gone ----------------------> gone
 *
 * Once committed every call goes straight to the responder (one extra method call per chunk,
 * no buffering): there is no failover once a byte may have gone to the client (nginx;
 * Pingora's rule, DESIGN.md). The decisions are the attempt loop's, asked synchronously.
 */
import type { CgiResponseHead } from '../cgi/response-head.ts';
import { type GatewayError, ProtocolError } from '../errors.ts';
import type { ExchangeSink } from '../transport/exchange.ts';
import type { Diversion } from './diversion.ts';
import type { ClientResponder, ExchangeControl } from './client-responder.ts';

/** How an attempt ended, from the attempt loop's point of view. */
export type AttemptOutcome =
  /** The client gets this attempt's response (or its error page). */
  | { readonly kind: 'committed'; readonly responder: ClientResponder }
  /** Try another member: the backend failed before anything reached the client. */
  | { readonly kind: 'retry'; readonly status: number; readonly error: GatewayError | undefined }
  /** The client went away before anything was decided. */
  | { readonly kind: 'gone' }
  /** The response is replaced (X-Accel-Redirect, X-Sendfile, internal redirect, error_page). */
  | { readonly kind: 'diverted'; readonly diversion: Diversion };

/** The attempt loop's side. */
export interface AttemptDecisions {
  /** The backend answered `status`: true drops the response and tries the next member. */
  retryStatus(status: number): boolean;
  /** The attempt failed before the head: true tries the next member, false shows the error. */
  retryError(error: GatewayError): boolean;
  /** Makes the responder that writes to the client (called at most once per request). */
  commit(exchange: ExchangeControl): ClientResponder;
  /** The head went to the responder; `accepted` false when the responder refused it. */
  headPassed(accepted: boolean): void;
  /** Logs a FastCGI stderr line; true when it matches fastcgi_catch_stderr. */
  onStderr(line: string): boolean;
  /** The error as the client is to see it (the route's status conventions). */
  present(error: GatewayError): GatewayError;
  /** What replaces this response, if anything (proxy/diversion.ts). */
  divert(head: CgiResponseHead): Diversion | undefined;
}

export class AttemptSink implements ExchangeSink {
  private readonly decisions: AttemptDecisions;
  private exchange: ExchangeControl | undefined;
  private responder: ClientResponder | undefined;
  private settled = false;
  private resolve!: (outcome: AttemptOutcome) => void;
  /** Settles once: committed, retry or gone. */
  readonly outcome: Promise<AttemptOutcome>;
  /** nginx ignore_client_abort: the client left; the rest of the response is read and dropped. */
  private discarding = false;
  private exchangeEnded = false;
  private signalEnd: () => void = () => {};
  /** Resolves when the exchange reported its end (onEnd or onError). */
  readonly ended: Promise<void>;

  constructor(decisions: AttemptDecisions) {
    this.decisions = decisions;
    this.outcome = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.ended = new Promise((resolve) => {
      this.signalEnd = resolve;
    });
  }

  /** True once the exchange has reported onEnd or onError. */
  get done(): boolean {
    return this.exchangeEnded;
  }

  /**
   * The client left but the backend may finish (ignore_client_abort): nothing more goes to the
   * responder, the exchange keeps reading until its end (`ended`).
   */
  discardRest(): void {
    this.discarding = true;
    this.exchange?.resume();
  }

  attach(exchange: ExchangeControl): void {
    this.exchange = exchange;
  }

  onHead(head: CgiResponseHead): void {
    if (this.settled) return;
    const diversion = this.decisions.divert(head);
    if (diversion !== undefined) {
      // The body is not wanted: close the exchange (never reused), nothing reaches the client.
      this.exchange?.abort();
      this.settle({ kind: 'diverted', diversion });
      return;
    }
    if (this.decisions.retryStatus(head.status)) {
      this.exchange?.abort();
      this.settle({ kind: 'retry', status: head.status, error: undefined });
      return;
    }
    const responder = this.commit();
    responder.onHead(head);
    this.decisions.headPassed(responder.error === undefined);
  }

  onBody(chunk: Buffer): boolean {
    const responder = this.responder;
    return responder === undefined || this.discarding ? true : responder.onBody(chunk);
  }

  onEnd(): void {
    this.exchangeEnded = true;
    this.signalEnd();
    if (!this.discarding) this.responder?.onEnd();
  }

  onError(error: GatewayError): void {
    this.exchangeEnded = true;
    this.signalEnd();
    if (this.discarding) return;
    const responder = this.responder;
    if (responder !== undefined) {
      responder.onError(error);
      return;
    }
    if (this.settled) return;
    if (this.decisions.retryError(error)) {
      this.settle({ kind: 'retry', status: 0, error });
      return;
    }
    this.commit().onError(this.decisions.present(error));
  }

  onStderr(line: string): void {
    const caught = this.decisions.onStderr(line);
    // nginx looks for catch_stderr strings only while the head is awaited: after it, the
    // response is the client's and a line is only logged.
    if (!caught || this.settled) return;
    this.exchange?.abort();
    this.onError(
      new ProtocolError(
        'ERR_FCGI_STDERR_CAUGHT',
        'FastCGI stderr matched catch_stderr before the response head',
      ),
    );
  }

  /** The client went away: whatever the exchange still reports is dropped. */
  clientGone(): void {
    this.settle({ kind: 'gone' });
  }

  private commit(): ClientResponder {
    const responder = this.decisions.commit(this.exchange ?? NO_EXCHANGE);
    this.responder = responder;
    this.settle({ kind: 'committed', responder });
    return responder;
  }

  private settle(outcome: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(outcome);
  }
}

const NO_EXCHANGE: ExchangeControl = { resume() {}, abort() {} };
