import { describe, expect, it } from 'vitest';
import { parsePortBinding } from '../../src/pulumi/ports.js';

describe('parsePortBinding', () => {
  it('reads ip:host:container as a port published on that address only', () => {
    expect(parsePortBinding('127.0.0.1:8000:8000')).toEqual({ ip: '127.0.0.1', external: 8000, internal: 8000, protocol: 'tcp' });
  });

  it('reads host:container as published on every address, like Compose', () => {
    expect(parsePortBinding('8080:80')).toEqual({ ip: undefined, external: 8080, internal: 80, protocol: 'tcp' });
  });

  it('reads an explicit /udp protocol', () => {
    expect(parsePortBinding('53:53/udp')).toEqual({ ip: undefined, external: 53, internal: 53, protocol: 'udp' });
  });

  it('rejects a string the stack file schema would reject, saying what it expected', () => {
    expect(() => parsePortBinding('http')).toThrow(/port "http" is not \[ip:\]host:container/);
  });

  it('rejects numbers outside the port range', () => {
    expect(() => parsePortBinding('70000:80')).toThrow(/70000 is not a port number/);
    expect(() => parsePortBinding('0:80')).toThrow(/0 is not a port number/);
  });
});
