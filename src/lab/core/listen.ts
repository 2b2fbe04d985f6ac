/** Start listening and settle once: resolved when bound, rejected with the bind error (e.g. EADDRINUSE). */
import type { ListenOptions, Server, Socket } from 'node:net';

export function listen(server: Server, options: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stop listening: drop every connection still open (`sockets`, which the caller tracked), then close. */
export async function closeServer(server: Server | null, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
}
