export { InvariantChecker, type Violation, type CheckerOptions } from './invariants';
