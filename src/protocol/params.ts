/**
 * One CGI/1.1 environment variable as sent to a backend. Names and values are latin1 strings:
 * each char is one byte on the wire, so bytes a client sent pass through unchanged.
 */
export type Param = readonly [name: string, value: string];
