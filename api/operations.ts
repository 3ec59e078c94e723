import { Type } from '@sinclair/typebox'

export const Health = Type.Object({
  status: Type.Literal('ok')
}, { $id: 'Health', title: 'Health', description: 'The process is up', additionalProperties: false })

export const Ready = Type.Object({
  status: Type.Literal('ready')
}, { $id: 'Ready', title: 'Ready', description: 'The database answers and every migration is applied', additionalProperties: false })
