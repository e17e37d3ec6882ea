import { type TSchema, Type } from 'typebox';
import { type ErrorCode, errorCodes } from '../errors/index.ts';

// Schemas shared by every capability's routes.

/** A timestamp: a Date in handlers, an RFC 3339 string on the wire. */
export const DateTime = Type.Unsafe<Date>({ type: 'string', format: 'date-time' });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.Unsafe<ErrorCode>({
      type: 'string',
      enum: errorCodes,
      description: 'Stable error code to match on (docs/errors.md).',
    }),
    detail: Type.Optional(Type.String()),
    request_id: Type.Optional(Type.String()),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details' },
);
