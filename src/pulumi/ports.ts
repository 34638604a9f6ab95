/** A published port in the shape of the Docker provider's `ports` entries. */
export interface PortBinding {
  internal: number;
  external: number;
  /** Host address to bind; absent means every address, as in Compose. */
  ip: string | undefined;
  protocol: 'tcp' | 'udp';
}

// Same grammar the stack file schema enforces: [ip:]host:container[/tcp|/udp].
const PORT_SYNTAX = /^(?:([0-9.]+):)?([0-9]+):([0-9]+)(?:\/(tcp|udp))?$/;

/** Parses a Compose-style port string; throws for a string the schema would have rejected. */
export function parsePortBinding(text: string): PortBinding {
  const match = PORT_SYNTAX.exec(text);
  const external = match?.[2];
  const internal = match?.[3];
  if (match === null || external === undefined || internal === undefined) {
    throw new Error(`port "${text}" is not [ip:]host:container[/tcp|udp]; load stack files with loadStackFile, which validates them`);
  }
  return {
    internal: portNumber(internal, text),
    external: portNumber(external, text),
    ip: match[1],
    protocol: match[4] === 'udp' ? 'udp' : 'tcp',
  };
}

function portNumber(digits: string, text: string): number {
  const port = Number(digits);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`port "${text}": ${digits} is not a port number (1-65535)`);
  }
  return port;
}
