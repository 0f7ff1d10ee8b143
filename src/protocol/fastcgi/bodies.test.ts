import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError, UpstreamError } from '../../errors.ts';
import { decodeBeginRequest, decodeEndRequest, decodeUnknownType, endRequestError } from './bodies.ts';
import { ProtocolStatus, Role } from './constants.ts';
import { encodeBeginRequest, encodeEndRequest, encodeUnknownType } from './encode.ts';

describe('FastCGI fixed bodies', () => {
  it('round-trips BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies', () => {
    assert.deepEqual(decodeBeginRequest(encodeBeginRequest(1, Role.FILTER, true).subarray(8)), {
      role: 3,
      flags: 1,
      keepConn: true,
    });
    assert.deepEqual(decodeBeginRequest(encodeBeginRequest(1, Role.RESPONDER, false).subarray(8)), {
      role: 1,
      flags: 0,
      keepConn: false,
    });
    assert.deepEqual(decodeEndRequest(encodeEndRequest(1, 0xfffffffe, 2).subarray(8)), {
      appStatus: 0xfffffffe,
      protocolStatus: 2,
    });
    assert.equal(decodeUnknownType(encodeUnknownType(42).subarray(8)), 42);
  });

  it('rejects short bodies with ProtocolError, accepts longer ones', () => {
    for (const decode of [decodeBeginRequest, decodeEndRequest, decodeUnknownType]) {
      assert.throws(
        () => decode(Buffer.alloc(7)),
        (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FCGI_BODY_LENGTH',
      );
      decode(Buffer.alloc(16));
    }
  });

  it('maps each protocolStatus to a typed error', () => {
    assert.equal(endRequestError(ProtocolStatus.REQUEST_COMPLETE), undefined);
    const cases: [number, Function, string][] = [
      [ProtocolStatus.CANT_MPX_CONN, UpstreamError, 'ERR_FCGI_CANT_MPX_CONN'],
      [ProtocolStatus.OVERLOADED, UpstreamError, 'ERR_FCGI_OVERLOADED'],
      [ProtocolStatus.UNKNOWN_ROLE, UpstreamError, 'ERR_FCGI_UNKNOWN_ROLE'],
      [4, ProtocolError, 'ERR_FCGI_PROTOCOL_STATUS'],
      [255, ProtocolError, 'ERR_FCGI_PROTOCOL_STATUS'],
    ];
    for (const [status, type, code] of cases) {
      const error = endRequestError(status);
      assert.ok(error instanceof type, `status ${status}`);
      assert.equal(error.code, code);
      assert.equal(error.source, 'backend');
      assert.equal(error.status, 502);
    }
  });
});
