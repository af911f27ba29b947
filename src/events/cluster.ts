// Events in a cluster: written to kube-apiserver as core v1 Events (create, and a strategic merge
// patch of count, lastTimestamp and message for a repeat), as client-go's EventSinkImpl does,
// with @kubernetes/client-node. Each request is bounded by a timeout so that a hung connection
// cannot stall the recorder's queue.
import { CoreV1Api, Observable, type ConfigurationOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { CoreEvent } from '../api/core.ts';
import { SinkRecorder, type EventRecorder, type RecorderOptions } from './recorder.ts';

const REQUEST_TIMEOUT_MS = 10_000;

/** Per-request options: a timeout, and the Content-Type when given (client-node picks JSON Patch otherwise). */
function requestOptions(contentType?: string): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx) => {
          ctx.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
          if (contentType) ctx.setHeaderParam('Content-Type', contentType);
          return new Observable(Promise.resolve(ctx));
        },
        post: (r) => new Observable(Promise.resolve(r)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** client-node's typed Event: timestamps as Date objects. */
function toV1(ev: CoreEvent): CoreV1Event {
  const date = (t: string | null | undefined) => (t ? new Date(t) : undefined);
  return { ...ev, firstTimestamp: date(ev.firstTimestamp), lastTimestamp: date(ev.lastTimestamp), eventTime: undefined } as CoreV1Event;
}

const fromV1 = (ev: CoreV1Event) => ({ ...ev, metadata: ev.metadata ?? {} }) as unknown as CoreEvent;

/** In a cluster: Events created and patched in kube-apiserver with the server's own credentials. */
export function clusterEventRecorder(kc: KubeConfig, opts: RecorderOptions): EventRecorder {
  const core = kc.makeApiClient(CoreV1Api);
  return new SinkRecorder(
    {
      create: async (ev) => fromV1(await core.createNamespacedEvent({ namespace: ev.metadata.namespace!, body: toV1(ev) }, requestOptions())),
      patch: async (namespace, name, repeat) =>
        fromV1(await core.patchNamespacedEvent({ namespace, name, body: repeat }, requestOptions('application/strategic-merge-patch+json'))),
    },
    opts,
  );
}
