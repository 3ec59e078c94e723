import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * What the queue hands out, signed: a ticket (a place in a show's queue) and an admission (the
 * right to hold seats of that show until `expiresAt`). Both name the show and the joiner's
 * sequence number, so neither works for another show; the signature makes them unforgeable
 * without any lookup, and the secret is shared by every server process.
 */
export type Signed =
  | { kind: 'ticket', showId: string, seq: number, joinedAt: number, expiresAt: number }
  | { kind: 'admission', showId: string, seq: number, expiresAt: number }

/** Why a token was refused: not one this service signed, of another show, or past its end. */
export type Refusal = 'forged' | 'other_show' | 'expired'

export type Verified<K extends Signed['kind']> = { ok: true, claims: Extract<Signed, { kind: K }> } | { ok: false, reason: Refusal }

// 128 bits of HMAC-SHA256 are beyond guessing, and keep tokens short.
const macBytes = 16

function toFields (claims: Signed): unknown[] {
  return claims.kind === 'ticket'
    ? ['t', claims.showId, claims.seq, claims.joinedAt, claims.expiresAt]
    : ['a', claims.showId, claims.seq, claims.expiresAt]
}

/** The claims a signed payload carries, or undefined when it is not one this code writes. */
function fromFields (fields: unknown): Signed | undefined {
  if (!Array.isArray(fields)) return undefined
  const [kind, showId, seq, ...times] = fields as unknown[]
  if (typeof showId !== 'string' || !Number.isSafeInteger(seq) || !times.every(Number.isSafeInteger)) return undefined
  const [a, b] = times as number[]
  if (kind === 't' && times.length === 2) return { kind: 'ticket', showId, seq: seq as number, joinedAt: a!, expiresAt: b! }
  if (kind === 'a' && times.length === 1) return { kind: 'admission', showId, seq: seq as number, expiresAt: a! }
  return undefined
}

export function createSigner (secret: string) {
  const mac = (payload: string): Buffer => createHmac('sha256', secret).update(payload).digest().subarray(0, macBytes)

  function read (token: string): Signed | undefined {
    const [payload, signature, extra] = token.split('.')
    if (payload === undefined || signature === undefined || extra !== undefined) return undefined
    const given = Buffer.from(signature, 'base64url')
    if (given.length !== macBytes || !timingSafeEqual(given, mac(payload))) return undefined
    try {
      return fromFields(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')))
    } catch {
      return undefined
    }
  }

  return {
    sign (claims: Signed): string {
      const payload = Buffer.from(JSON.stringify(toFields(claims))).toString('base64url')
      return `${payload}.${mac(payload).toString('base64url')}`
    },

    /** The claims of a `kind` token of `showId` still valid at `now` (ms), or why not. */
    verify<K extends Signed['kind']> (token: string, kind: K, showId: string, now: number): Verified<K> {
      const claims = read(token)
      if (claims?.kind !== kind) return { ok: false, reason: 'forged' }
      if (claims.showId !== showId) return { ok: false, reason: 'other_show' }
      if (claims.expiresAt <= now) return { ok: false, reason: 'expired' }
      return { ok: true, claims: claims as Extract<Signed, { kind: K }> }
    }
  }
}

export type Signer = ReturnType<typeof createSigner>
