"""The API's answers as pydantic models: what /api/v1/openapi.json documents, field by field.

Built by the routers of web/api from the state's records (:mod:`gitops.state.model`), the index's
pages and counts (:mod:`gitops.state.index`) and the configuration (:mod:`gitops.domain`); the
dashboard's JavaScript and any client read them. Key design choices: JSON names are camelCase (as
the query parameters and the Kubernetes API), times are epoch seconds (floats, UTC), and each model
is built by one ``of`` function from the record it shows, so a credential can only reach an answer
by being added here on purpose (none is: clusters show their server URL, redacted, and nothing of
their kubeconfig or tokens; repository URLs are redacted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gitops.domain import Application, Cluster
from gitops.errors import Failure
from gitops.results import ImageCheck
from gitops.state.index import TargetCounts
from gitops.state.model import DriftRecord, Hold, ObjectRecord, Operation, SpanRecord, TargetStatus
from gitops.state.suspensions import Suspension
from gitops.vocabulary import HealthStatus, OperationPhase, SyncStatus, Trigger


class Model(BaseModel):
    """camelCase on the wire; Python names accepted too (clients and tests may use either)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


# -- errors ---------------------------------------------------------------------------------------
class Problem(BaseModel):
    """Every error (RFC 9457 ``application/problem+json``): ``errors`` lists each invalid parameter
    (422), ``field`` names the one the server refused (400), ``temporary`` says a retry can help."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[dict[str, str]] | None = Field(
        default=None, description="each invalid parameter: {field: query.limit, message: ...}")
    field: str | None = None
    temporary: bool | None = None


PROBLEM_SCHEMA = Problem.model_json_schema()
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"description": text, "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
    for status, text in ((400, "a value the server refuses (the field is named)"),
                         (401, "no credentials: log in or send an API token"),
                         (403, "the role is too low, or a session's CSRF token is missing"),
                         (404, "no such thing, or not visible to the caller"),
                         (422, "invalid parameters or body (each listed in errors)"),
                         (503, "the state store is unavailable (Retry-After)"))}


# -- targets ----------------------------------------------------------------------------------------
class FailureInfo(Model):
    """Why the last reconcile failed: the error's kind in the engine's tree, its message, whether a
    retry can help and after how many seconds the other side asked for one."""

    kind: str = Field(description="class name in gitops.errors, e.g. ClusterUnavailable, RenderFailed")
    message: str
    temporary: bool
    retry_after: float | None = None

    @staticmethod
    def of(failure: Failure | None) -> FailureInfo | None:
        if failure is None:
            return None
        return FailureInfo(kind=failure.kind, message=failure.message, temporary=failure.temporary,
                           retry_after=failure.retry_after)


class ImageVerdictInfo(Model):
    """The verification verdict for one image of a target (docs/verification.md)."""

    image: str = Field(description="the reference as the manifests name it")
    digest: str | None = Field(default=None, description="the digest verified (null: not resolved)")
    status: str = Field(description="verified, warned, allowed, skipped, refused or temporary")
    signers: list[str] = Field(description="who signed it: a key fingerprint, a keyless identity, a Notation "
                                           "signer")
    reasons: list[str] = Field(description="why it was refused or warned")
    verified_at: float = Field(description="epoch seconds of the verdict")

    @staticmethod
    def of(check: ImageCheck) -> ImageVerdictInfo:
        return ImageVerdictInfo(image=check.image, digest=check.digest, status=check.status,
                                signers=list(check.signers), reasons=list(check.reasons),
                                verified_at=check.verified_at)


class VerificationSummary(Model):
    """How the images of the last reconcile fared: counts per verdict (``images`` lists them on a
    target's detail)."""

    images: int
    verified: int
    warned: int
    refused: int = Field(description="refused by a policy, or not verifiable now (temporary)")

    @staticmethod
    def of(checks: Sequence[ImageCheck] | None) -> VerificationSummary | None:
        if checks is None:
            return None
        return VerificationSummary(images=len(checks),
                                   verified=sum(1 for c in checks if c.status == "verified"),
                                   warned=sum(1 for c in checks if c.status == "warned"),
                                   refused=sum(1 for c in checks if not c.allowed))


class HoldInfo(Model):
    """Why the target was only compared at its last reconcile although its policy would have synced:
    ``dependency`` (``on``: the targets it waits for), ``window`` (``on``: the deny windows, ``until``:
    when the window ends) or ``suspended`` (after a rollback)."""

    reason: str = Field(description="dependency, window or suspended")
    message: str
    on: list[str] = Field(description="the targets waited for, or the windows' names")
    until: float | None = Field(default=None, description="epoch seconds when the hold ends, if known")
    since: float = Field(description="epoch seconds since when it holds")

    @staticmethod
    def of(hold: Hold | None) -> HoldInfo | None:
        if hold is None:
            return None
        return HoldInfo(reason=hold.reason, message=hold.message, on=list(hold.on), until=hold.until,
                        since=hold.since)


class SuspensionInfo(Model):
    """Automated sync of the target is suspended (a rollback) until someone resumes it."""

    reason: str = Field(description='e.g. "rollback to 1a2b3c4d5e6f"')
    revision: str | None = Field(default=None, description="the commit the rollback re-applied")
    since: float = Field(description="epoch seconds")
    by: str | None = Field(default=None, description="who suspended it (user@host, or name via api)")

    @staticmethod
    def of(suspension: Suspension | None) -> SuspensionInfo | None:
        if suspension is None:
            return None
        return SuspensionInfo(reason=suspension.reason, revision=suspension.revision, since=suspension.since,
                              by=suspension.by)


class TargetSummary(Model):
    """One target (application x cluster) in a list: its status without the drift itself."""

    application: str
    cluster: str
    target: str = Field(description="app@cluster")
    revision: str | None = None
    sync: SyncStatus
    health: HealthStatus
    drift_count: int
    failed: bool = Field(description="the last reconcile failed")
    error: str | None = None
    failure: FailureInfo | None = None
    operation: str | None = Field(default=None, description="id of the operation that wrote this status")
    reconciled_at: float = Field(description="epoch seconds; 0 when never reconciled")
    verification: VerificationSummary | None = Field(
        default=None, description="image verification of the last reconcile; null when no policy applies")
    hold: HoldInfo | None = Field(default=None, description="why the last reconcile only compared; null: "
                                                            "nothing held it")
    suspended: SuspensionInfo | None = Field(default=None, description="automated sync suspended (a "
                                                                       "rollback); null: not suspended")

    @staticmethod
    def of(status: TargetStatus, suspension: Suspension | None = None) -> TargetSummary:
        failed = status.error is not None or status.failure is not None
        error = status.error or (status.failure.message if status.failure else None)
        return TargetSummary(
            application=status.application, cluster=status.cluster, target=status.target.key,
            revision=status.revision, sync=status.sync, health=status.health,
            drift_count=status.drift_count, failed=failed, error=error,
            failure=FailureInfo.of(status.failure), operation=status.operation,
            reconciled_at=status.reconciled_at, verification=VerificationSummary.of(status.verification),
            hold=HoldInfo.of(status.hold), suspended=SuspensionInfo.of(suspension))


class Counts(Model):
    """How many targets match, overall and per sync status, health, drifted, failed."""

    total: int
    sync: dict[str, int]
    health: dict[str, int]
    drifted: int
    failed: int

    @staticmethod
    def of(counts: TargetCounts) -> Counts:
        return Counts(total=counts.total, sync=dict(counts.sync), health=dict(counts.health),
                      drifted=counts.drifted, failed=counts.failed)


class TargetPage(Model):
    """One page of targets. Follow ``nextCursor`` (same filters and sort) for the next one."""

    items: list[TargetSummary]
    total: int = Field(description="targets matching the filters, all pages together")
    next_cursor: str | None = Field(default=None, description="null on the last page")
    counts: Counts | None = Field(default=None, description="present when asked with counts=true")


# -- applications ---------------------------------------------------------------------------------
class SourceInfo(Model):
    repository: str
    url: str | None = Field(default=None, description="the repository's URL, credentials redacted")
    ref: str | None = Field(default=None, description="the branch or tag followed")
    path: str
    revision: str | None = Field(default=None, description="a pinned revision, when configured")
    renderer: str


class DestinationInfo(Model):
    cluster: str
    namespace: str | None = None


class PolicyInfo(Model):
    automated: bool
    prune: bool
    self_heal: bool
    detect_only: bool
    allow_recreate: bool
    allow_empty: bool
    prune_max_share: float


class ApplicationSummary(Model):
    """An application's configuration (no secrets: repositories are named, URLs redacted)."""

    name: str
    labels: dict[str, str]
    source: SourceInfo
    destination: DestinationInfo
    policy: PolicyInfo

    @staticmethod
    def of(app: Application, url: str | None, ref: str | None) -> ApplicationSummary:
        p = app.sync_policy
        return ApplicationSummary(
            name=app.name, labels=dict(app.labels),
            source=SourceInfo(repository=app.source.repository, url=url, ref=ref, path=app.source.path,
                              revision=app.source.revision, renderer=app.source.renderer),
            destination=DestinationInfo(cluster=app.destination.cluster,
                                        namespace=app.destination.namespace),
            policy=PolicyInfo(automated=p.automated, prune=p.prune, self_heal=p.self_heal,
                              detect_only=p.detect_only, allow_recreate=p.allow_recreate,
                              allow_empty=p.allow_empty, prune_max_share=p.prune_max_share))


class ApplicationList(Model):
    items: list[ApplicationSummary]


class ObjectItem(Model):
    """What one operation did to one object, and the object's health after it."""

    object: str = Field(description="kind/namespace/name (group/version when not core)")
    action: str = Field(description="created, configured, unchanged, deleted, skipped, failed, recreated")
    message: str = ""
    error: str | None = None
    health: str | None = None

    @staticmethod
    def of(record: ObjectRecord) -> ObjectItem:
        return ObjectItem(object=record.object, action=record.action, message=record.message,
                          error=record.error, health=record.health)


class DriftItem(Model):
    """One drifted field: the live value, the value the cluster would have after applying Git
    (predicted), both as JSON text with secrets masked, and who last wrote the live value when."""

    object: str
    path: str
    live: str
    predicted: str
    manager: str | None = Field(default=None, description="the field manager owning the live value")
    changed_at: float | None = Field(default=None, description="when that manager last wrote the object")

    @staticmethod
    def of(record: DriftRecord) -> DriftItem:
        return DriftItem(object=record.object, path=record.path, live=record.live,
                         predicted=record.predicted, manager=record.manager, changed_at=record.changed_at)


class Span(Model):
    """One stage of an operation's trace (trigger, resolve, render, verify, plan, apply, health)."""

    name: str
    start: float = Field(description="epoch seconds")
    duration: float = Field(description="seconds")
    error: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    @staticmethod
    def of(record: SpanRecord) -> Span:
        return Span(name=record.name, start=record.start, duration=record.duration, error=record.error,
                    attributes=dict(record.attributes))


class OperationSummary(Model):
    """One operation (a reconcile or sync of a target) without its objects and trace; ``actions``
    counts its per-object results by action."""

    id: str
    application: str
    cluster: str
    trigger: Trigger
    trigger_detail: str | None = Field(default=None, description="who or what triggered it")
    phase: OperationPhase
    revision: str | None = None
    commit_time: float | None = Field(default=None, description="committer time of the revision")
    started: float
    finished: float | None = None
    duration: float | None = None
    dry_run: bool
    prune: bool
    attempt: int
    redeliveries: int
    error: str | None = None
    failure: FailureInfo | None = None
    manifests_digest: str | None = None
    actions: dict[str, int] = Field(description="objects per action")
    objects_dropped: int = Field(description="objects beyond the stored limit, not listed")
    corrected_count: int = Field(description="drifted fields this operation's write put back to Git's "
                                             "values (self-heal, a sync)")
    applied: bool | None = Field(default=None, description="whether it wrote; false: it only compared, and "
                                 "`actions` say what a write would do; null: running or not recorded")

    @staticmethod
    def fields_of(op: Operation) -> dict[str, object]:
        return dict(
            id=op.id, application=op.application, cluster=op.cluster, trigger=op.trigger,
            trigger_detail=op.trigger_detail, phase=op.phase, revision=op.revision,
            commit_time=op.commit_time, started=op.started, finished=op.finished, duration=op.duration,
            dry_run=op.dry_run, prune=op.prune, attempt=op.attempt, redeliveries=op.redeliveries,
            error=op.error, failure=FailureInfo.of(op.failure), manifests_digest=op.manifests_digest,
            actions=dict(Counter(o.action for o in op.objects)), objects_dropped=op.objects_dropped,
            corrected_count=len(op.corrected) + op.corrected_dropped, applied=op.applied)

    @classmethod
    def of(cls, op: Operation) -> OperationSummary:
        return cls.model_validate(cls.fields_of(op))


class OperationDetail(OperationSummary):
    """One operation with its per-object results, its trace (``spans``, in order) and the drift its
    write corrected (``corrected``: live value before, Git's value, who had changed it and when)."""

    objects: list[ObjectItem]
    spans: list[Span]
    corrected: list[DriftItem] = Field(default_factory=list)

    @classmethod
    def of(cls, op: Operation) -> OperationDetail:
        return cls.model_validate({**cls.fields_of(op), "objects": [ObjectItem.of(o) for o in op.objects],
                                   "spans": [Span.of(s) for s in op.spans],
                                   "corrected": [DriftItem.of(d) for d in op.corrected]})


class OperationList(Model):
    items: list[OperationSummary]


class ApplicationTarget(Model):
    """The application on one cluster: status, drift, the last operation (objects with health and
    its trace) and recent history."""

    cluster: str
    configured: bool = Field(description="the configuration places the application on this cluster")
    status: TargetSummary | None = Field(default=None, description="null until the first reconcile")
    drift: list[DriftItem]
    drift_dropped: int = Field(description="drifted fields beyond the stored limit, not listed")
    images: list[ImageVerdictInfo] | None = Field(
        default=None, description="the verification verdict of each image; null when no policy applies")
    last_operation: OperationDetail | None = Field(
        None, description="the operation that wrote the status: its objects with health and its trace")
    history: list[OperationDetail] = Field(description="newest first")
    hold: HoldInfo | None = Field(default=None, description="why the last reconcile only compared")
    suspended: SuspensionInfo | None = Field(default=None, description="automated sync suspended (a "
                                                                       "rollback); null: not suspended")


class ApplicationDetail(ApplicationSummary):
    targets: list[ApplicationTarget]


# -- commits, clusters, actions, events ----------------------------------------------------------
class CommitTargets(Model):
    """Every target whose current revision starts with ``revision``."""

    revision: str
    repository: str | None = None
    items: list[TargetSummary]
    truncated: bool = Field(description="more targets are at this revision than listed")


class Reachability(Model):
    """What the cluster's targets last said about it: ``reachable`` (a reconcile talked to it),
    ``unreachable`` (the newest telling reconcile failed with ClusterUnavailable), ``unknown``."""

    state: str = Field(description="reachable, unreachable or unknown")
    at: float | None = Field(default=None, description="time of the reconcile that told")
    message: str | None = None
    target: str | None = Field(default=None, description="the target whose reconcile told")


class ClusterSummary(Model):
    """A configured cluster: its labels, server (redacted), target counts and reachability."""

    name: str
    labels: dict[str, str]
    server: str | None = Field(default=None, description="API server URL, credentials redacted")
    counts: Counts
    reachability: Reachability

    @staticmethod
    def of(cluster: Cluster, server: str | None, counts: TargetCounts, reach: Reachability) -> ClusterSummary:
        return ClusterSummary(name=cluster.name, labels=dict(cluster.labels), server=server,
                              counts=Counts.of(counts), reachability=reach)


class ClusterList(Model):
    items: list[ClusterSummary]


class SyncRequest(Model):
    """Body of a sync (all optional)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="forbid")

    prune: bool = Field(default=False, description="delete objects no longer in Git")
    dry_run: bool = Field(default=False, description="plan and report only; nothing is written")
    force: bool = Field(default=False, description="take ownership of fields another field manager holds "
                                                   "(server-side apply force); without it such a sync fails "
                                                   "naming the manager")


class ActionAccepted(Model):
    """An action was enqueued (``queued``), or one for the target already is (``operation`` null)."""

    action: str = Field(description="sync, refresh, hard-refresh, rollback or resume")
    application: str
    cluster: str
    operation: str | None = Field(default=None, description="the task id, which is the operation id")
    queued: bool
    message: str


class RollbackAccepted(ActionAccepted):
    """A rollback was enqueued: the commit it re-applies, and a warning when that commit is not in the
    target's history."""

    revision: str = Field(description="the full commit id the pinned sync applies")
    warning: str | None = Field(default=None, description="e.g. the revision is not in the target's history")


class RollbackRequest(Model):
    """Body of a rollback (optional): ``to`` a commit id or a unique prefix (4 to 40 hex digits) of a
    revision in the target's history; default: the newest revision applied before the current one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="forbid")

    to: str | None = Field(default=None, max_length=64, description="a commit id or a unique prefix")


class EventItem(Model):
    """One entry of the state's event stream (the ``data`` of a server-sent event)."""

    id: str
    kind: str
    application: str
    cluster: str
    message: str
    time: float
    data: dict[str, str]


# -- ApplicationSets (web/api/appsets.py) ---------------------------------------------------------
class AppSetHeld(Model):
    """The change the deletion breaker holds until it is approved (``approve`` with this ``id``)."""

    id: str = Field(description="fingerprint of exactly this change; an approval names it")
    delete_count: int = Field(description="applications it would delete")
    move_count: int = Field(description="applications it would move to another cluster")
    reason: str
    since: float = Field(description="epoch seconds: when it was first held")
    approved: bool = Field(description="approved; applied on the controller's next pass")


class AppSetRollout(Model):
    """The progressive rollout (RollingSync): its phase and current step."""

    id: str = Field(description="fingerprint of the desired set the rollout carries")
    phase: str = Field(description="Progressing, WaitingApproval, Halted or Completed")
    step: int = Field(description="the current step, 1 for the first")
    message: str
    started_at: float
    gate_since: float | None = Field(default=None, description="since when the step's gate holds")
    approved_step: int | None = Field(default=None, description="the step approved (1 for the first)")


class AppSetSummary(Model):
    """One ApplicationSet as the controller last saved it (``error``: its record is unreadable, and
    only ``name`` is meaningful)."""

    name: str
    desired: int = Field(description="applications the set generates (and keeps)")
    released: int = Field(description="applications the fleet runs")
    paused: bool
    rollout: AppSetRollout | None = Field(default=None, description="null unless RollingSync")
    held: AppSetHeld | None = Field(default=None, description="the change waiting for an approval")
    errors: int = Field(description="element errors and generator failures of the last pass")
    last_pass: float = Field(description="epoch seconds of the controller's last pass; 0 never")
    kept: list[str] = Field(default_factory=list, description="restored applications kept until deleted")
    error: str | None = Field(default=None, description="why the stored record cannot be read")


class AppSetList(Model):
    items: list[AppSetSummary]


class AppSetApplication(Model):
    """One application of the set: what the set wants (desired) and what the fleet runs (released)."""

    name: str
    cluster: str = Field(description="the desired cluster (or the released one when no longer desired)")
    desired: bool
    released: bool
    desired_revision: str | None = None
    released_revision: str | None = None
    released_cluster: str | None = Field(default=None, description="the cluster the fleet runs it on")
    up_to_date: bool = Field(description="the released application is exactly the desired one")
    kept: bool = Field(description="restored from a tombstone: kept even while not generated")


class AppSetChange(Model):
    """The held change in full: the applications it would delete and move."""

    id: str
    deletes: list[str]
    moves: list[str]
    reason: str
    since: float
    approved: bool


class AppSetLastPass(Model):
    """What the controller's last pass saw and did."""

    at: float
    complete: bool = Field(description="every generator and element answered (nothing is deleted otherwise)")
    errors: list[str] = Field(description="element errors (template, names taken, unresolvable heads)")
    failures: list[str] = Field(description="generator failures (Git unreachable, timeouts)")
    notes: list[str] = Field(description="what the pass decided, in sentences")
    created: int
    updated: int
    deleted: int


class AppSetRolloutCluster(Model):
    """One cluster the rollout released: when, and when it passed the gate."""

    cluster: str
    released_at: float
    done_at: float | None = Field(default=None, description="null until the cluster passed")


class AppSetDetail(AppSetSummary):
    applications: list[AppSetApplication]
    change: AppSetChange | None = Field(default=None, description="the held change with its applications")
    last_run: AppSetLastPass
    rollout_clusters: list[AppSetRolloutCluster] = Field(default_factory=list)


class AppSetTombstone(Model):
    """A deleted application of the set, restorable until ``expiresAt``."""

    application: str
    cluster: str | None = Field(default=None, description="its destination cluster when deleted")
    deleted_at: float
    expires_at: float
    reason: str


class AppSetTombstoneList(Model):
    items: list[AppSetTombstone]


class AppSetApproveRequest(Model):
    """Body of an approval (optional): approve only the change with this id."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="forbid")

    change: str | None = Field(default=None, max_length=128,
                               description="the held change's id (as listed); another change is refused")


class AppSetActionResult(Model):
    """What a verb on an ApplicationSet did (applied by the controller's next pass)."""

    action: str = Field(description="approve, pause, resume, restore or delete")
    application_set: str
    application: str | None = None
    message: str
