/**
 * Messages are discriminated unions: `{ type, data }`. Events are past tense
 * (`SecretVersionCreated`), commands imperative (`SetSecret`). Time and ids come in
 * through the command so deciders stay pure and deterministic.
 */
export type Event<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
};

export type Command<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
};
