/**
 * Builders the protocol's schemas share. Not exported from the package: they make schemas, they are not part of the
 * contract.
 */
import Type, { type TLiteral, type TSchema, type TSchemaOptions, type TString, type TUnion } from 'typebox';

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/** A union of string literals from a readonly tuple, so a vocabulary kept as data (status.ts) stays the single source. */
export const literals = <const T extends readonly string[]>(values: T, description: string, options: TSchemaOptions = {}): TUnion<Literals<T>> =>
  Type.Union(values.map((v) => Type.Literal(v)) as never, { ...options, description }) as never;

/** Times on the wire are ISO-8601 strings. */
export const IsoTime = (description: string): TString => Type.String({ format: 'date-time', description });

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
