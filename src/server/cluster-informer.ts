// One kind kept current from the API server: client-node's ListWatch (the informer makeInformer
// returns: list, then watch from the list's resourceVersion, re-list on 410 Gone) over a Watch
// that asks for bookmarks, bounds each watch, and hands on slim copies only, so the informer's
// cache holds what the mesh model reads and nothing else. ListWatch stops on any other error;
// this restarts it after an exponential back-off and says, meanwhile, that the kind is failing.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { listSlim } from './cluster-api.js';
import { collectionPath, slimObject, type SlimObject, type WatchedKind } from './cluster-kinds.js';
import { errorMessage } from '../util/errors.js';

/** listing: before the first list; synced: listed and watching; failing: the last list or watch failed. */
export type KindPhase = 'listing' | 'synced' | 'failing';

export interface BackoffOptions {
  /** First wait after an error; doubled per consecutive error. */
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };
/** The API server ends each watch after about this long; the next one resumes from its resourceVersion. */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;

export interface KindWatchHooks {
  added(object: SlimObject): void;
  updated(object: SlimObject): void;
  deleted(object: SlimObject): void;
  /** Every change of phase, with the error that caused `failing`. */
  phase(kind: WatchedKind, phase: KindPhase, error?: string): void;
  /** Every failed list or watch (the phase changes only on the first of a row). */
  error(kind: WatchedKind, message: string): void;
}

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** Watch with bookmarks and a server-side timeout; object events carry slim copies. */
class SlimWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly kind: WatchedKind,
    private readonly timeoutSeconds: number,
    private readonly onConnected: () => void,
    private readonly isStopped: () => boolean,
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let failed = false;
    // ListWatch can start a watch after stop() (a re-list in flight when it was stopped): such a
    // watch must not start, or its connection keeps a stopping server alive.
    if (this.isStopped()) return new AbortController();
    // Jitter, so the watches of a restarted fleet do not all end at once.
    const timeoutSeconds = Math.round(this.timeoutSeconds * (0.9 + Math.random() * 0.2));
    let controller: AbortController;
    try {
      controller = await super.watch(
        path,
        { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
        (phase, apiObj) => {
          if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
            const slim = slimObject(this.kind, apiObj);
            if (slim) callback(phase, slim);
            return;
          }
          // BOOKMARK (a resourceVersion to resume from) and ERROR (410 Gone: re-list) are small.
          callback(phase, apiObj);
        },
        (err) => {
          if (err) failed = true;
          done(err);
        },
      );
    } catch (err) {
      // Credentials that cannot be applied (an exec plugin failing, no current cluster) throw
      // before Watch.watch's own error handling: report them like a failed connection.
      done(err);
      return new AbortController();
    }
    if (this.isStopped()) {
      controller.abort();
      return controller;
    }
    // Watch.watch reports a refused or failed connection through `done` before it returns.
    if (!failed) this.onConnected();
    return controller;
  }
}

/** A slim copy as client-node's informer types it (its metadata type has Date timestamps). */
const asKubernetesObject = (o: SlimObject): KubernetesObject => o as unknown as KubernetesObject;
const asSlim = (o: KubernetesObject): SlimObject => o as unknown as SlimObject;

export class KindWatch {
  private readonly informer: ListWatch<KubernetesObject>;
  private current: KindPhase = 'listing';
  private lastError: string | undefined;
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    config: KubeConfig,
    readonly kind: WatchedKind,
    private readonly hooks: KindWatchHooks,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    watchTimeoutSeconds = DEFAULT_WATCH_TIMEOUT_SECONDS,
  ) {
    this.delay = backoff.initialMs;
    const watch = new SlimWatch(config, kind, watchTimeoutSeconds, () => this.connected(), () => this.stopped);
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const slim = await listSlim(config, kind);
      return { metadata: slim.metadata, items: slim.items.map(asKubernetesObject) };
    };
    this.informer = new ListWatch(collectionPath(kind), watch, list, false);
    this.informer.on('add', (o) => hooks.added(asSlim(o)));
    this.informer.on('update', (o) => hooks.updated(asSlim(o)));
    this.informer.on('delete', (o) => hooks.deleted(asSlim(o)));
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  get phase(): KindPhase {
    return this.current;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** The slim copies held now (for a rebuild of the model after a policy change). */
  objects(): SlimObject[] {
    return this.informer.list().map(asSlim);
  }

  start(): void {
    this.informer.start().catch((err: unknown) => this.failed(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }

  private setPhase(phase: KindPhase, error?: string): void {
    const changed = phase !== this.current;
    this.current = phase;
    this.lastError = error;
    if (changed) this.hooks.phase(this.kind, phase, error);
  }

  private connected(): void {
    if (this.stopped) return;
    this.delay = this.backoff.initialMs;
    this.setPhase('synced');
  }

  private failed(err: unknown): void {
    if (this.stopped) return;
    const message = errorMessage(err);
    this.hooks.error(this.kind, message);
    this.setPhase('failing', message);
    if (this.timer) return;
    const wait = Math.round(this.delay * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(this.backoff.maxMs, this.delay * 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.start();
    }, wait);
    this.timer.unref();
  }
}
