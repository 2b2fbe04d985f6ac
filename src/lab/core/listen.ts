/** Start listening and settle once: resolved when bound, rejected with the bind error (e.g. EADDRINUSE). */
import type { ListenOptions, Server } from 'node:net';

export function listen(server: Server, options: ListenOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
