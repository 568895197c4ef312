/**
 * Who may connect to the feed, and as what: tokens from the server's config, presented at the WebSocket upgrade as
 * `Authorization: Bearer TOKEN` or `?token=TOKEN`. Tokens are looked up by their SHA-256, so no secret is compared
 * byte by byte.
 */
import { createHash } from 'node:crypto';

/** publisher: prices, positions, collateral, fills, books (and subscribe); subscriber: subscribe only; admin: the kill switch (and subscribe). */
export type Role = 'publisher' | 'subscriber' | 'admin';

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

export class TokenRoles {
  private readonly roles = new Map<string, Role>();

  constructor(publisherTokens: readonly string[], subscriberTokens: readonly string[], adminTokens: readonly string[] = []) {
    for (const t of publisherTokens) this.roles.set(sha256(t), 'publisher');
    for (const t of subscriberTokens) this.roles.set(sha256(t), 'subscriber');
    for (const t of adminTokens) this.roles.set(sha256(t), 'admin');
  }

  /** The role of the token in an Authorization header (Bearer) or, failing that, a query parameter; undefined: none. */
  roleOf(authorization: string, queryToken: string): Role | undefined {
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const token = bearer ?? queryToken;
    return token === '' ? undefined : this.roles.get(sha256(token));
  }
}
