/**
 * @module kernel — the dependency-free core every library and every domain/ folder may import:
 * message and decider types, `fold`, `assertNever`, the DomainError hierarchy, the clock and
 * event definitions (schema version, validator, upcasters). It imports nothing — not even
 * Node built-ins — so a pure decider loads no driver, framework or network client.
 * Infrastructure libraries (eventstore, messaging, ...) import it, never the reverse.
 */
export type { Command, Event } from './message.types.js';
export { fold, type Decider } from './decider.js';
export { assertNever } from './assert-never.js';
export { ConflictError, DomainError, InvalidInputError, isDomainError, NotFoundError, UnavailableError, type DomainErrorDetails } from './domain-error.js';
export { manualClock, systemClock, type Clock } from './clock.js';
export { isDraining, startDraining } from './draining.js';
export {
  EventRegistry,
  EventValidationError,
  UnknownEventTypeError,
  UpcastError,
  v,
  type EventDefinition,
  type ObjectIdentity,
  type PublishContext,
  type PublishedContract,
  type PublishedEvent,
  type Upcaster,
  type Validator,
} from './event-registry.js';
