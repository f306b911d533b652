export type {
  EndpointInfo,
  EndpointSnapshot,
  DiscoveryError,
  DiscoveryListener,
  DiscoverySource,
  DiscoverySourceFactory,
  ParsedTarget,
  ZoneMode,
  PickExplanation,
  AttemptOutcome,
  AttemptObserver,
  CallObserver,
  CallDescription,
  CallObserverFactory,
} from './contracts.js';
export { parseTarget, parseStaticTarget, parseKubernetesPath, hostPortProblem, TargetError } from './target.js';
export type { KubernetesTarget } from './target.js';
