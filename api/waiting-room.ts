import { Type, type Static } from '@sinclair/typebox'
import { Timestamp, Uuid } from './common.ts'

/** The most buyers one show's queue places (the opening's draw covers up to 2^32). */
export const maxQueueLength = 2 ** 32

const AdmitPerMinute = Type.Integer({
  minimum: 1,
  maximum: 1_000_000,
  description: 'Buyers let through the queue per minute, from the opening on. An admitted buyer holds about once, so keep it below what the service holds per minute, with headroom',
  examples: [600]
})

/** What a show shows of its waiting room. */
export const WaitingRoom = Type.Object({
  enabled: Type.Boolean({ description: 'While true, holds of the show need an Admission-Token from its queue. False: switched off, everyone is admitted' }),
  admit_per_minute: Type.Union([AdmitPerMinute, Type.Null()], { description: 'The rate in force; null while switched off' })
}, { $id: 'WaitingRoom', title: 'WaitingRoom', additionalProperties: false, examples: [{ enabled: true, admit_per_minute: 600 }] })
export type WaitingRoom = Static<typeof WaitingRoom>

/** A waiting room as a new show asks for it. */
export const WaitingRoomSettings = Type.Object({
  admit_per_minute: AdmitPerMinute
}, {
  $id: 'WaitingRoomSettings',
  title: 'WaitingRoomSettings',
  description: 'A queue in front of the show: buyers join it with POST /shows/{id}/queue and are admitted at `admit_per_minute` from `sales_open_at` (from the creation when absent)',
  additionalProperties: false
})

export const SetAdmissionRate = Type.Object({
  admit_per_minute: AdmitPerMinute
}, { $id: 'SetAdmissionRate', title: 'SetAdmissionRate', description: 'Admit at this rate from now on (switches a room that was off on again)', additionalProperties: false })

export const SwitchWaitingRoomOff = Type.Object({
  enabled: Type.Literal(false)
}, { $id: 'SwitchWaitingRoomOff', title: 'SwitchWaitingRoomOff', description: 'Switch the queue off: everyone in it is admitted, and holds need no token', additionalProperties: false })

export const WaitingRoomUpdate = Type.Union([Type.Ref(SetAdmissionRate), Type.Ref(SwitchWaitingRoomOff)], {
  $id: 'WaitingRoomUpdate',
  title: 'WaitingRoomUpdate',
  description: '`{ admit_per_minute }` or `{ enabled: false }`; takes effect at once (every server process within a second)',
  examples: [{ admit_per_minute: 300 }, { enabled: false }]
})
export type WaitingRoomUpdate = Static<typeof SetAdmissionRate> | Static<typeof SwitchWaitingRoomOff>

const NullableTimestamp = Type.Union([Timestamp, Type.Null()])

export const QueueTicket = Type.Object({
  ticket: Type.String({ description: 'Opaque and signed: keep it, and ask GET /shows/{id}/queue/{ticket} for the place it gives', examples: ['eyJrIjoidCIsInMiOi...Jx9.q3J8...'] }),
  show_id: Uuid,
  status: Type.Union([Type.Literal('waiting'), Type.Literal('admitted')], { description: '`admitted`: hold with `admission_token` before `admission_expires_at`' }),
  position: Type.Union([Type.Integer({ minimum: 0, maximum: maxQueueLength }), Type.Null()], {
    description: 'Place in the line: 1 is next; 0 once admitted. Null before the opening: everyone who joined before `sales_open_at` is placed in one random order then',
    examples: [42]
  }),
  ahead: Type.Union([Type.Integer({ minimum: 0, maximum: maxQueueLength }), Type.Null()], { description: 'Buyers still waiting ahead (position - 1 while waiting); null before the opening', examples: [41] }),
  estimated_admission_at: Type.Union([Timestamp, Type.Null()], { description: 'When the ticket should be admitted at the current rate (the admission time once admitted); null before the opening' }),
  admission_token: Type.Union([Type.String(), Type.Null()], { description: 'Send as `Admission-Token` on POST /bookings for this show; null until admitted' }),
  admission_expires_at: NullableTimestamp
}, {
  $id: 'QueueTicket',
  title: 'QueueTicket',
  additionalProperties: false,
  examples: [{
    ticket: 'eyJrIjoidCIsInMiOiIwYjZm...In0.5mV0ZXN0',
    show_id: '0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10',
    status: 'waiting',
    position: 42,
    ahead: 41,
    estimated_admission_at: '2035-12-01T10:04:12.000Z',
    admission_token: null,
    admission_expires_at: null
  }]
})
export type QueueTicket = Static<typeof QueueTicket>

export const QueueTicketParams = Type.Object({
  id: Type.String({ description: 'The show id' }),
  ticket: Type.String({ description: 'The `ticket` of a QueueTicket' })
})

export const AdmissionHeaders = Type.Object({
  'admission-token': Type.Optional(Type.String({
    minLength: 1,
    maxLength: 1000,
    description: 'The `admission_token` of an admitted QueueTicket of this show: needed while the show\'s waiting room is on (403 admission_required otherwise); one token holds one PENDING booking at a time'
  }))
})

/** The body of GET /shows/{id}/queue/{ticket}/events (see ShowEventStream on why a string). */
export const QueueEventStream = Type.String({
  $id: 'QueueEventStream',
  title: 'QueueEventStream',
  description: [
    'A `text/event-stream` (Server-Sent Events). Events:',
    '',
    '- `ticket`: its `data` is one line of JSON, the `QueueTicket`. The first is sent at once, then one whenever the ' +
    'position (or anything else in it) changes, checked every second. The stream ends after the event that says `admitted`.',
    '- A comment line `: keep-alive` every 15 s.',
    '',
    'After a reconnection the first event is the current state.'
  ].join('\n'),
  examples: ['event: ticket\ndata: {"ticket":"...","show_id":"0b6f1c8e-4a51-4c36-9f1e-2f0f6b1d7a10","status":"waiting","position":3,"ahead":2,"estimated_admission_at":"2035-12-01T10:00:03.000Z","admission_token":null,"admission_expires_at":null}\n\n']
})
