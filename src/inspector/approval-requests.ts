// Approval requests as XState's inspection stream reveals them. An approval request is a child of
// its session, and an actor's emitted events reach only those subscribed to that actor: so
// whoever shows requests (the terminal of `ironclaw run`, the inspector's source) subscribes to
// each actor as the stream announces it — before it starts, so its first event is not missed —
// and hears approval.pending and approval.settled from whichever actor emits them.
import type { AnyActorRef, InspectionEvent } from "xstate";
import type { ApprovalPending, ApprovalSettled } from "../../machines/approval-request.machine.ts";

export interface ApprovalListener {
  pending(event: ApprovalPending, request: AnyActorRef): void;
  settled(event: ApprovalSettled, request: AnyActorRef): void;
}

const isActor = (ref: object): ref is AnyActorRef => "on" in ref && typeof ref.on === "function";

/** An inspection observer that tells `listener` of every approval request made, and of its answer. */
export function approvalRequests(listener: ApprovalListener): (event: InspectionEvent) => void {
  return (event) => {
    if (event.type !== "@xstate.actor" || !isActor(event.actorRef)) return;
    const request = event.actorRef;
    const pending = request.on("approval.pending", (e: ApprovalPending) => {
      pending.unsubscribe();
      listener.pending(e, request);
    });
    const settled = request.on("approval.settled", (e: ApprovalSettled) => {
      settled.unsubscribe();
      listener.settled(e, request);
    });
  };
}
