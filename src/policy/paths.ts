// Path questions the rules ask, on POSIX paths as the engine sees them.

function trimmed(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

/** `path` is `root` itself or inside it (`/srv/pim/data` is under `/srv/pim`; `/srv/pimx` is not). */
export function isUnder(path: string, root: string): boolean {
  const p = trimmed(path);
  const r = trimmed(root);
  if (r === '/') return p.startsWith('/');
  return p === r || p.startsWith(`${r}/`);
}

const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];

/** A mount of the engine's API socket gives the container root on the host. */
export function isDockerSocket(path: string): boolean {
  return DOCKER_SOCKETS.includes(trimmed(path));
}
