// The approval controller (SPEC 5.2): a PackageRevision that lists the readiness gate
// `pkg.pkgserver.dev/approve` asks to be approved automatically. When every other gate is True,
// the controller proposes it (if a draft) and publishes it as its own user, through exactly the
// checks a person meets: authorization (the `approve` verb, so RBAC decides in which namespaces
// auto-approval is allowed), the readiness gates and the distinct-approver rule. The gate's
// condition says what it waits for or why it may not, and turns True once published.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { findCondition } from '../api/meta.ts';
import { GATE_APPROVE, type PackageRevision } from '../api/pkg.ts';
import type { EventRecorder } from '../events/recorder.ts';
import { writeCondition } from './conditions.ts';
import { Controller, isForbidden, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';

export interface ApprovalControllerOptions {
  client: Client;
  revisions: Informer;
  recorder: EventRecorder;
  logger: Logger;
  metrics?: Registry;
}

const hasGate = (pr: PackageRevision) => (pr.spec.readinessGates ?? []).some((g) => g.conditionType === GATE_APPROVE);

export function approvalController(o: ApprovalControllerOptions): Controller {
  const controller = new Controller({ name: 'approval', reconciler: new ApprovalReconciler(o), workers: 2, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  // only revisions with the gate; every change of theirs (another gate's condition turning True)
  controller.watches(o.revisions, (type, obj) => (type !== 'DELETED' && hasGate(obj as PackageRevision) ? [{ namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }] : []));
  return controller;
}

class ApprovalReconciler {
  constructor(private readonly o: ApprovalControllerOptions) {}

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const pr = this.o.revisions.get(key.namespace, key.name) as PackageRevision | undefined;
    if (!pr || !hasGate(pr) || pr.metadata.deletionTimestamp) return;
    const lifecycle = pr.spec.lifecycle;
    if (lifecycle === 'deletionProposed') return;
    if (lifecycle === 'published') return this.gate(pr, 'True', 'Published', `published as ${pr.spec.packageRevID.revision} by ${pr.status?.publishedBy ?? 'unknown'}`);
    const pending = (pr.spec.readinessGates ?? [])
      .map((g) => g.conditionType)
      .filter((t) => t !== GATE_APPROVE)
      .map((t) => [t, findCondition(pr.status?.conditions, t)?.status ?? 'not set'] as const)
      .filter(([, status]) => status !== 'True');
    if (pending.length) return this.gate(pr, 'False', 'Waiting', `waiting for ${pending.map(([t, s]) => `gate ${t} (${s})`).join(', ')}`);

    const to = lifecycle === 'draft' ? 'proposed' : 'published';
    try {
      await this.o.client.update('packagerevisions', key.namespace, key.name, (cur) => {
        const c = cur as PackageRevision;
        if (c.spec.lifecycle !== lifecycle) return { obj: c }; // someone else moved it meanwhile
        c.spec.lifecycle = to;
        return { obj: c, precondition: pr.metadata.resourceVersion };
      });
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 409) return { requeueAfter: 0 }; // it changed: look again
      if (isForbidden(e) || code === 422) {
        // not allowed here (RBAC), or refused by the rules a person meets (distinct approver, gates)
        const reason = isForbidden(e) ? 'Forbidden' : 'Refused';
        if (findCondition(pr.status?.conditions, GATE_APPROVE)?.reason !== reason) this.o.recorder.event(pr, 'Warning', `Approval${reason}`, (e as Error).message);
        await this.gate(pr, 'False', reason, (e as Error).message);
        return;
      }
      throw e;
    }
    this.o.recorder.event(pr, 'Normal', to === 'proposed' ? 'Proposed' : 'Published', to === 'proposed' ? 'proposed by the approval controller (gate pkg.pkgserver.dev/approve)' : 'published by the approval controller (gate pkg.pkgserver.dev/approve)');
    // the write's own event runs this again: then the gate's condition follows
  }

  /** Sets the gate's condition through the status subresource, when it changed. */
  private gate(pr: PackageRevision, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    return writeCondition(this.o.client, 'packagerevisions', pr, { type: GATE_APPROVE, status, reason, message });
  }


}
