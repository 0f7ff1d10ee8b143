/**
 * The failure rule the incremental decoders share (FastCGI records, SCGI requests): the first
 * error thrown while decoding a chunk, a `ProtocolError` or a handler's own throw, fails the
 * decoder for good, and every later `push` throws that same error again. A stream that broke
 * framing once cannot be resynchronised: what follows could be read as the next record or
 * response (the desync and smuggling classes of E12/E13), so nothing is decoded from it again.
 *
 * The state slot is shared so that a subclass's state machine sees FAILED like any other state
 * (its getters such as "at a record boundary" or "done" are then false) without a second flag.
 */

/** The state of a failed decoder; subclasses number their own states from 0 (the start state). */
export const FAILED = -1;

export abstract class FailStopDecoder {
  /** The subclass's state machine; starts at 0, FAILED once an error escaped `decode`. */
  protected state = 0;
  /** What made the decoder fail, thrown again by every later `push`. */
  protected failure: unknown = undefined;

  /** Decodes `chunk` through the subclass's handler; throws, and keeps throwing, once failed. */
  push(chunk: Buffer): void {
    if (this.state === FAILED) throw this.failure;
    try {
      this.decode(chunk);
    } catch (error) {
      this.state = FAILED;
      this.failure = error;
      throw error;
    }
  }

  protected abstract decode(chunk: Buffer): void;
}
