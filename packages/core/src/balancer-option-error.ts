/**
 * The error `resolveEjectionOptions` and `resolveSlowStartOptions` (so `createBalancer` too) throw for a bad
 * `ejection` or `slowStart` option. Its parts are properties, so a caller that names the option its own way
 * (connect's `outlierEjection.x`, the grpc policy config, the live configuration document) re-words it from
 * them rather than by parsing the message.
 */

/** Which balancer option a {@link BalancerOptionError} is about. */
export type BalancerOptionName = 'ejection' | 'slowStart';

function balancerOptionMessage(option: BalancerOptionName, field: string | undefined, problem: string): string {
  return `Balancer option ${option}${field === undefined ? '' : `.${field}`} ${problem}`;
}

/**
 * A bad `ejection` or `slowStart` balancer option. The message reads `Balancer option <option>.<field>
 * <problem>` (`Balancer option <option> <problem>` when the whole value is wrong), e.g. `Balancer option
 * ejection.maxEjectedPercent must be <= 100, got 120`.
 *
 * A `RangeError`, also for a value that is not an object at all (`field` undefined).
 */
export class BalancerOptionError extends RangeError {
  /** The balancer option: `ejection` or `slowStart`. */
  readonly option: BalancerOptionName;
  /** The field of the option that is wrong (e.g. `maxEjectedPercent`, or a misspelt name); undefined when the whole value is. */
  readonly field: string | undefined;
  /** What is wrong, the message after the option's name, e.g. `must be <= 100, got 120`. */
  readonly problem: string;
  constructor(option: BalancerOptionName, field: string | undefined, problem: string) {
    super(balancerOptionMessage(option, field, problem));
    this.name = 'BalancerOptionError';
    this.option = option;
    this.field = field;
    this.problem = problem;
  }
}
