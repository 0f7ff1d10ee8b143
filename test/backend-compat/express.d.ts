/**
 * The slice of Express 5's API that test/backend-compat/express.test.ts uses. Express ships no
 * types and @types/express is not a dependency (only express itself is, for these tests).
 * A script file (no top-level import), so `declare module` declares rather than augments.
 */
declare module 'express' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface Request extends IncomingMessage {
    params: Record<string, string>;
    query: Record<string, unknown>;
    body: unknown;
    ip: string | undefined;
    protocol: string;
    secure: boolean;
    hostname: string | undefined;
    get(field: string): string | undefined;
  }

  export interface CookieOptions {
    httpOnly?: boolean;
    path?: string;
    sameSite?: 'lax' | 'strict' | 'none';
    maxAge?: number;
  }

  export interface Response extends ServerResponse {
    status(code: number): this;
    json(body: unknown): this;
    send(body?: unknown): this;
    set(field: string, value: string): this;
    type(type: string): this;
    cookie(name: string, value: string, options?: CookieOptions): this;
    redirect(url: string): void;
    redirect(status: number, url: string): void;
    sendFile(path: string, callback?: (error?: Error) => void): void;
  }

  export type NextFunction = (error?: unknown) => void;
  export type Handler = (req: Request, res: Response, next: NextFunction) => unknown;
  export type ErrorHandler = (error: unknown, req: Request, res: Response, next: NextFunction) => unknown;

  export interface Router {
    get(path: string, ...handlers: Handler[]): this;
    post(path: string, ...handlers: Handler[]): this;
    put(path: string, ...handlers: Handler[]): this;
    use(...handlers: Handler[]): this;
    use(path: string, ...handlers: Array<Handler | Router>): this;
    use(handler: ErrorHandler): this;
  }

  export interface Application extends Router {
    (req: IncomingMessage, res: ServerResponse): void;
    set(setting: string, value: unknown): this;
  }

  export interface BodyParserOptions {
    limit?: string | number;
    type?: string;
    extended?: boolean;
  }

  interface Express {
    (): Application;
    json(options?: BodyParserOptions): Handler;
    urlencoded(options?: BodyParserOptions): Handler;
    raw(options?: BodyParserOptions): Handler;
    Router(): Router;
  }

  const express: Express;
  export default express;
}
