import { randomBytes } from 'node:crypto'
import t from 'tap'
import { admissionTime, admittedBy, placeOf, type Room } from '../src/engine/waiting-room/schedule.ts'
import { shuffledPlace } from '../src/engine/waiting-room/shuffle.ts'
import { createSigner } from '../src/engine/waiting-room/signing.ts'

/** Spearman's rank correlation of two orderings of 0..n-1 (ranks given). */
function spearman (a: number[], b: number[]): number {
  const n = a.length
  const d2 = a.reduce((sum, rank, i) => sum + (rank - b[i]!) ** 2, 0)
  return 1 - 6 * d2 / (n * (n * n - 1))
}

t.test('the opening\'s draw gives each early joiner one place, uncorrelated with arrival', async (t) => {
  const seed = randomBytes(32)
  for (const size of [1, 2, 3, 5, 16, 17, 255, 256, 257, 1000]) {
    const places = Array.from({ length: size }, (_, i) => shuffledPlace(seed, size, i))
    t.same([...places].sort((a, b) => a - b), Array.from({ length: size }, (_, i) => i), `a permutation of ${size}`)
  }
  const size = 12_500
  const places = Array.from({ length: size }, (_, i) => shuffledPlace(seed, size, i))
  const rho = spearman(places, places.map((_, i) => i))
  t.ok(Math.abs(rho) < 0.05, `|ρ| = ${Math.abs(rho).toFixed(4)}`)
  t.not(shuffledPlace(randomBytes(32), size, 0) === places[0] && shuffledPlace(randomBytes(32), size, 1) === places[1], true, 'another seed, another order')
  t.throws(() => shuffledPlace(seed, 5, 5))
})

const room = (settings: Room['settings'], extra: Partial<Room> = {}): Room =>
  ({ showId: 's', now: 0, opensAt: 0, startsAt: 1e12, joined: 1000, joinedBeforeOpening: 0, seed: new Uint8Array(32), settings, ...extra })

t.test('admission follows the rates set over time', async (t) => {
  // 60 a minute from the opening at 10 s, 120 a minute from 70 s, off from 100 s, 60 again from 130 s.
  const r = room([
    { since: 0, admitPerMinute: 60, admittedBefore: 0 },
    { since: 70_000, admitPerMinute: 120, admittedBefore: 60 },
    { since: 100_000, admitPerMinute: null, admittedBefore: 120 },
    { since: 130_000, admitPerMinute: 60, admittedBefore: 500 }
  ], { opensAt: 10_000 })
  t.equal(admittedBy(r, 5_000), 0, 'nobody before the opening')
  t.equal(admittedBy(r, 40_000), 30)
  t.equal(admittedBy(r, 85_000), 90)
  t.equal(admittedBy(r, 110_000), Infinity, 'everyone while off')
  t.equal(admittedBy(r, 140_000), 510)
  t.equal(admissionTime(r, 0), 11_000, 'the first a second after the opening')
  t.equal(admissionTime(r, 29), 40_000)
  t.equal(admissionTime(r, 89), 85_000)
  t.equal(admissionTime(r, 200), 100_000, 'those who joined before it was switched on again, when it was switched off')
  t.equal(admissionTime(r, 509), 140_000)
  for (const place of [0, 50, 100, 300, 600]) {
    const at = admissionTime(r, place)!
    t.ok(admittedBy(r, at) >= place + 1 && admittedBy(r, at - 1) < place + 1, `the count passes place ${place} at its admission time`)
  }
})

t.test('early joiners are placed after the opening, ahead of later ones', async (t) => {
  const early = room([{ since: 0, admitPerMinute: 60, admittedBefore: 0 }], { opensAt: 10_000, joined: 12, joinedBeforeOpening: 10, seed: randomBytes(32) })
  t.equal(placeOf({ ...early, now: 9_000 }, 3, 2_000), undefined)
  t.equal(placeOf({ ...early, now: 11_000 }, 3, 2_000), undefined, 'not while the count may still change')
  const places = Array.from({ length: 10 }, (_, i) => placeOf({ ...early, now: 12_000 }, i + 1, 2_000))
  t.same([...places].sort((a, b) => a! - b!), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.equal(placeOf(early, 11, 2_000), 10)
  t.equal(placeOf(early, 12, 2_000), 11)
})

t.test('tokens are signed with their kind, show and end', async (t) => {
  const signer = createSigner('a-secret-of-thirty-two-characters!')
  const ticket = signer.sign({ kind: 'ticket', showId: 'show-1', seq: 7, joinedAt: 1_000, expiresAt: 5_000 })
  const admission = signer.sign({ kind: 'admission', showId: 'show-1', seq: 7, expiresAt: 5_000 })
  t.same(signer.verify(ticket, 'ticket', 'show-1', 4_999), { ok: true, claims: { kind: 'ticket', showId: 'show-1', seq: 7, joinedAt: 1_000, expiresAt: 5_000 } })
  t.same(signer.verify(admission, 'admission', 'show-1', 4_999), { ok: true, claims: { kind: 'admission', showId: 'show-1', seq: 7, expiresAt: 5_000 } })
  t.same(signer.verify(admission, 'admission', 'show-1', 5_000), { ok: false, reason: 'expired' })
  t.same(signer.verify(admission, 'admission', 'show-2', 0), { ok: false, reason: 'other_show' })
  t.same(signer.verify(ticket, 'admission', 'show-1', 0), { ok: false, reason: 'forged' }, 'a ticket is no admission')
  t.same(createSigner('another-secret-of-thirty-two-chars').verify(admission, 'admission', 'show-1', 0), { ok: false, reason: 'forged' })
  const [payload, mac] = admission.split('.') as [string, string]
  const longer = Buffer.from(JSON.stringify(['a', 'show-1', 7, 9_999_999])).toString('base64url')
  for (const bad of [`${longer}.${mac}`, `${payload}.${mac}x`, `${payload}.${mac}.x`, payload, '', '.', `${payload}.`]) {
    t.same(signer.verify(bad, 'admission', 'show-1', 0), { ok: false, reason: 'forged' }, JSON.stringify(bad))
  }
})
