/**
 * COMPATIBILITY RE-EXPORT — the kernel moved to `libs/kernel` (issue #12). Import these names
 * from `#libs/kernel`; this file keeps code written against `#libs/eventstore` compiling
 * until every branch has moved, then it goes away.
 */
export {
  assertNever,
  DomainError,
  EventRegistry,
  EventValidationError,
  fold,
  UnknownEventTypeError,
  UpcastError,
  v,
  type Command,
  type Decider,
  type Event,
  type EventDefinition,
  type Upcaster,
  type Validator,
} from '#libs/kernel';
