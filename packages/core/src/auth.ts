/**
 * API keys with scopes, identical on every protocol. Keys are kept only as SHA-256 hashes
 * and compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError, ForbiddenError, UnauthenticatedError } from './errors.js';
import type { Principal } from './interfaces.js';
import { SCOPES, type Scope } from './schemas.js';

/** One configured key: give the plaintext `key` or its `sha256` hex digest. */
export interface ApiKeyConfig {
  /** Shown in logs and audit records; never the key itself. */
  id: string;
  key?: string;
  sha256?: string;
  scopes: Scope[];
}

/** SHA-256 hex digest of an API key, for configs that must not hold the plaintext. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

interface StoredKey {
  id: string;
  hash: Buffer;
  scopes: Scope[];
}

/** Checks credentials and scopes. With no keys configured, every call is allowed. */
export class ApiKeyAuthenticator {
  private readonly keys: StoredKey[];

  constructor(keys: ApiKeyConfig[] = []) {
    const ids = new Set<string>();
    this.keys = keys.map((k, i) => {
      if (!k.id) throw new ConfigError(`apiKeys[${i}].id is required`);
      if (ids.has(k.id)) throw new ConfigError(`apiKeys[${i}].id "${k.id}" is used twice`);
      ids.add(k.id);
      if (!k.key === !k.sha256) throw new ConfigError(`apiKeys[${i}] needs exactly one of key or sha256`);
      if (k.sha256 && !/^[0-9a-f]{64}$/i.test(k.sha256)) {
        throw new ConfigError(`apiKeys[${i}].sha256 must be 64 hex characters`);
      }
      if (k.key !== undefined && k.key.length < 8)
        throw new ConfigError(`apiKeys[${i}].key must be at least 8 characters`);
      if (!Array.isArray(k.scopes) || k.scopes.length === 0)
        throw new ConfigError(`apiKeys[${i}].scopes must not be empty`);
      for (const scope of k.scopes) {
        if (!SCOPES.includes(scope)) throw new ConfigError(`apiKeys[${i}].scopes: unknown scope "${scope}"`);
      }
      return { id: k.id, hash: Buffer.from(k.sha256 ?? hashApiKey(k.key!), 'hex'), scopes: [...k.scopes] };
    });
  }

  /** True when keys are configured and calls must authenticate. */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The principal for a presented key. Throws `UnauthenticatedError` for none or a wrong one. */
  authenticate(credential: string | undefined): Principal {
    if (!credential) throw new UnauthenticatedError('missing API key');
    const presented = Buffer.from(hashApiKey(credential), 'hex');
    let match: StoredKey | undefined;
    // Compare against every key so the time taken does not depend on which one matched.
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.hash) && !match) match = key;
    }
    if (!match) throw new UnauthenticatedError('invalid API key');
    return { keyId: match.id, scopes: match.scopes };
  }

  /** Throws `ForbiddenError` unless the principal has `scope` (or `admin`). */
  authorize(principal: Principal, scope: Scope, operation: string): void {
    if (principal.scopes.includes('admin') || principal.scopes.includes(scope)) return;
    throw new ForbiddenError(`API key "${principal.keyId}" lacks scope ${scope}, required by ${operation}`, {
      details: { keyId: principal.keyId, required: scope, operation },
    });
  }
}
