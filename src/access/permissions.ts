import { AUDIT_SUBJECT_ROOT } from "../audit/index.js";
import { RequestSlots, SubjectRoots } from "../events/index.js";
import { ConsumerNames, HEALTH_SUBJECT_ROOT, KvBuckets, StreamNames } from "../nats/index.js";

/**
 * Who may do what on NATS, as data. Each NATS user Beamline mints carries the subject
 * permissions compiled here from its roles' grants; nats-server enforces them, so a process
 * holding a role's credential cannot step outside that role whatever its code does.
 *
 * The model is an allow-list: a subject no grant names is refused. Deny entries exist only to
 * carve the durable consumers of other roles out of a stream-wide read (a reader must not pull
 * from, delete or redefine the `worker` consumer, which would steal or stall its work).
 */

/** Every kind of NATS identity Beamline issues. The first five are the router's own roles. */
export const NATS_ROLES = [
  "gateway",
  "worker",
  "billing",
  "projector",
  "notary",
  "admin",
  "auditor",
  "usage-reader",
] as const;
export type NatsRole = (typeof NATS_ROLES)[number];

/** Roles that may be scoped to one tenant (their reads are then subject-filtered to it). */
export const TENANT_SCOPED_ROLES: ReadonlySet<NatsRole> = new Set(["auditor", "usage-reader"]);

/** One thing a role may do, before it is compiled to subjects. */
export type Grant =
  /** Publish (write) to these subjects; for stream subjects that is "append to the stream". */
  | { kind: "publish"; subjects: string[] }
  /** Subscribe to these core subjects. */
  | { kind: "subscribe"; subjects: string[] }
  /** Read a stream: stream info, ordered consumers, direct gets; optionally only under `filter`. */
  | { kind: "read"; stream: string; filter?: string }
  /** Pull from and ack one durable consumer. */
  | { kind: "consume"; stream: string; durable: string }
  /** Read a KV bucket (get, watch). */
  | { kind: "kvRead"; bucket: string }
  /** Write a KV bucket (put, create, update, delete). */
  | { kind: "kvWrite"; bucket: string }
  /** Stream and consumer info of the whole topology (the start-up check that it is in place). */
  | { kind: "inspect" }
  /** Everything: the operator's own identity. */
  | { kind: "all" };

/** Subject permissions in the shape a NATS user JWT carries them. */
export interface SubjectPermissions {
  pub: { allow: string[]; deny: string[] };
  sub: { allow: string[]; deny: string[] };
}

/** What a compiled permission set depends on besides the roles. */
export interface PermissionScope {
  /** The user's own inbox prefix (no trailing dot): replies and pub-acks arrive under it. */
  inboxPrefix: string;
  /** Restricts the reads of tenant-scoped roles to one tenant. */
  tenant?: string;
  /** Subjects of configured NATS-service providers, which the worker calls. */
  providerSubjects?: readonly string[];
}

const API = "$JS.API";
const kvStream = (bucket: string) => `KV_${bucket}`;

/** The durable consumers of each stream, so reads can be kept off the ones a role does not own. */
export const DURABLES: ReadonlyArray<{ stream: string; durable: string }> = [
  { stream: StreamNames.requests, durable: ConsumerNames.worker },
  { stream: StreamNames.requests, durable: ConsumerNames.billing },
  { stream: StreamNames.requests, durable: ConsumerNames.healthProjector },
  { stream: StreamNames.config, durable: ConsumerNames.apiKeysProjector },
  { stream: StreamNames.config, durable: ConsumerNames.tenantsProjector },
  { stream: StreamNames.config, durable: ConsumerNames.configDocumentsProjector },
  { stream: StreamNames.quota, durable: ConsumerNames.quotaProjector },
  { stream: StreamNames.usage, durable: ConsumerNames.spendProjector },
  { stream: StreamNames.config, durable: ConsumerNames.producersProjector },
  { stream: StreamNames.ingress, durable: ConsumerNames.ingress },
];

const ALL_STREAMS = Object.values(StreamNames);
const read = (stream: string, filter?: string): Grant => ({
  kind: "read",
  stream,
  ...(filter ? { filter } : {}),
});
const consume = (stream: string, durable: string): Grant => ({ kind: "consume", stream, durable });
const kvRead = (...buckets: string[]): Grant[] => buckets.map((bucket) => ({ kind: "kvRead", bucket }));
const kvWrite = (...buckets: string[]): Grant[] =>
  buckets.flatMap((bucket): Grant[] => [
    { kind: "kvRead", bucket },
    { kind: "kvWrite", bucket },
  ]);
const publish = (...subjects: string[]): Grant => ({ kind: "publish", subjects });
const slot = (name: string) => `${SubjectRoots.requests}.*.*.${name}`;

/** What every role process does at start: config views (policies, catalog), the quota view. */
const ROUTER_COMMON: Grant[] = [
  { kind: "inspect" },
  read(StreamNames.config),
  ...kvRead(KvBuckets.policies, KvBuckets.catalog, KvBuckets.quota),
  // Every process opens the tenants' wrapped data keys (content at rest, src/vault).
  ...kvRead(KvBuckets.tenantKeys),
];

/**
 * The grants of each role. Sources: the stage handlers (src/stages), the projectors
 * (projections/), the gateway (src/gateway), the notary (src/notary).
 */
export const ROLE_GRANTS: Readonly<Record<NatsRole, readonly Grant[]>> = {
  gateway: [
    ...ROUTER_COMMON,
    // Accepted requests, and the terminal answer of a request refused before any worker saw it.
    publish(slot(RequestSlots.accepted), slot(RequestSlots.terminal)),
    // The admin API and the dev-tenant bootstrap write configuration events.
    publish(`${SubjectRoots.config}.>`),
    { kind: "subscribe", subjects: [`${SubjectRoots.live}.>`] },
    read(StreamNames.requests),
    read(StreamNames.usage),
    ...kvRead(KvBuckets.apiKeys, KvBuckets.tenants, KvBuckets.spend),
    // The web console shows provider health and breaker state (src/gateway/console).
    ...kvRead(KvBuckets.health),
    // A tenant's data key is created on its first sealed write (an atomic KV create).
    ...kvWrite(KvBuckets.tenantKeys),
  ],
  worker: [
    ...ROUTER_COMMON,
    consume(StreamNames.requests, ConsumerNames.worker),
    // The ingress stage: producers' requests in, the checked request.accepted out.
    consume(StreamNames.ingress, ConsumerNames.ingress),
    read(StreamNames.requests),
    read(StreamNames.quota),
    publish(
      slot(RequestSlots.accepted),
      slot(RequestSlots.decided),
      slot(`${RequestSlots.attempt}.*`),
      slot(RequestSlots.terminal),
      slot(RequestSlots.cache),
      slot("ext.>"),
      `${SubjectRoots.quota}.>`,
      `${SubjectRoots.deadLetter}.>`,
      // Chunks and terminal notices to the waiting gateway or producer, and extension calls.
      `${SubjectRoots.live}.>`,
      "bl.ext.>",
    ),
    ...kvRead(KvBuckets.apiKeys, KvBuckets.tenants, KvBuckets.extensions, KvBuckets.producers),
    // Half-open probe leases are compare-and-set writes on the health bucket.
    ...kvWrite(KvBuckets.health, KvBuckets.tenantKeys),
    // The response cache: looked up and filled by the worker (docs/caching.md).
    ...kvWrite(KvBuckets.responseCache),
  ],
  billing: [
    ...ROUTER_COMMON,
    consume(StreamNames.requests, ConsumerNames.billing),
    read(StreamNames.requests),
    read(StreamNames.quota),
    publish(`${SubjectRoots.usage}.>`, `${SubjectRoots.quota}.>`, `${SubjectRoots.deadLetter}.>`),
  ],
  projector: [
    ...ROUTER_COMMON,
    ...DURABLES.filter((d) => d.durable.startsWith("projector-")).map((d) => consume(d.stream, d.durable)),
    read(StreamNames.requests),
    read(StreamNames.quota),
    read(StreamNames.usage),
    read(StreamNames.health),
    publish(`${HEALTH_SUBJECT_ROOT}.>`, `${SubjectRoots.deadLetter}.>`),
    ...kvWrite(
      KvBuckets.apiKeys,
      KvBuckets.quota,
      KvBuckets.health,
      KvBuckets.tenants,
      KvBuckets.policies,
      KvBuckets.catalog,
      KvBuckets.spend,
      KvBuckets.producers,
    ),
  ],
  notary: [
    ...ROUTER_COMMON,
    ...ALL_STREAMS.map((stream) => read(stream)),
    publish(`${AUDIT_SUBJECT_ROOT}.>`),
  ],
  admin: [{ kind: "all" }],
  auditor: [
    read(StreamNames.requests, `${SubjectRoots.requests}.{tenant}.>`),
    read(StreamNames.usage, `${SubjectRoots.usage}.{tenant}.>`),
    read(StreamNames.quota, `${SubjectRoots.quota}.{tenant}.>`),
    // Configuration events of the tenant: `bl.cfg.<aggregate>.<tenant>` and, for keys, `….<key>`.
    read(StreamNames.config, `${SubjectRoots.config}.*.{tenant}`),
    read(StreamNames.config, `${SubjectRoots.config}.*.{tenant}.>`),
    // Checkpoints hold digests only, never content: every auditor may read them all.
    read(StreamNames.audit),
  ],
  "usage-reader": [read(StreamNames.usage, `${SubjectRoots.usage}.{tenant}.>`)],
};

/** Compiles grants to subject permissions (pure; the same inputs always give the same lists). */
export function compileGrants(grants: readonly Grant[], scope: PermissionScope): SubjectPermissions {
  const pub = new Set<string>();
  const sub = new Set<string>([`${scope.inboxPrefix}.>`]);
  const consumed = new Set<string>();
  const readStreams = new Set<string>();
  if (grants.some((g) => g.kind === "all")) {
    return { pub: { allow: [">"], deny: [] }, sub: { allow: [">"], deny: [] } };
  }
  const readOf = (stream: string, filter?: string) => {
    readStreams.add(stream);
    // The JetStream account info (every manager asks first) and flow-control replies of the
    // consumers it reads with.
    pub.add(`${API}.INFO`);
    pub.add("$JS.FC.>");
    pub.add(`${API}.STREAM.INFO.${stream}`);
    pub.add(`${API}.CONSUMER.INFO.${stream}.*`);
    pub.add(`${API}.CONSUMER.MSG.NEXT.${stream}.*`);
    pub.add(`${API}.CONSUMER.DELETE.${stream}.*`);
    if (filter) {
      // The filtered create form names the filter in the subject, and the server checks that
      // the consumer's config matches it: a scoped reader can only create scoped consumers.
      // Direct gets are allowed only by subject (last message on a subject under the filter).
      pub.add(`${API}.CONSUMER.CREATE.${stream}.*.${filter}`);
      pub.add(`${API}.DIRECT.GET.${stream}.${filter}`);
    } else {
      // The unnamed create form carries several filters (or none) in the body.
      pub.add(`${API}.CONSUMER.CREATE.${stream}`);
      pub.add(`${API}.CONSUMER.CREATE.${stream}.>`);
      pub.add(`${API}.STREAM.MSG.GET.${stream}`);
      pub.add(`${API}.DIRECT.GET.${stream}`);
      pub.add(`${API}.DIRECT.GET.${stream}.>`);
    }
  };
  for (const grant of grants) {
    switch (grant.kind) {
      case "publish":
        for (const s of grant.subjects) pub.add(s);
        break;
      case "subscribe":
        for (const s of grant.subjects) sub.add(s);
        break;
      case "read": {
        const filter = grant.filter?.replaceAll("{tenant}", scope.tenant ?? "*");
        readOf(grant.stream, scope.tenant || !grant.filter ? filter : undefined);
        break;
      }
      case "consume":
        consumed.add(`${grant.stream}.${grant.durable}`);
        pub.add(`${API}.CONSUMER.INFO.${grant.stream}.${grant.durable}`);
        pub.add(`${API}.CONSUMER.MSG.NEXT.${grant.stream}.${grant.durable}`);
        pub.add(`$JS.ACK.${grant.stream}.${grant.durable}.>`);
        break;
      case "kvRead":
        readOf(kvStream(grant.bucket));
        break;
      case "kvWrite":
        pub.add(`$KV.${grant.bucket}.>`);
        break;
      case "inspect":
        // Configuration only, never messages: the start-up check that the topology is in place.
        // (Wildcards keep the user JWT small: it travels in the CONNECT line.)
        pub.add(`${API}.INFO`);
        pub.add(`${API}.STREAM.INFO.*`);
        pub.add(`${API}.CONSUMER.INFO.*.*`);
        break;
      case "all":
        break;
    }
  }
  const deny = new Set<string>();
  for (const d of DURABLES) {
    if (!readStreams.has(d.stream)) continue;
    const own = consumed.has(`${d.stream}.${d.durable}`);
    if (!own) deny.add(`${API}.CONSUMER.MSG.NEXT.${d.stream}.${d.durable}`);
    deny.add(`${API}.CONSUMER.DELETE.${d.stream}.${d.durable}`);
    deny.add(`${API}.CONSUMER.CREATE.${d.stream}.${d.durable}`);
    deny.add(`${API}.CONSUMER.CREATE.${d.stream}.${d.durable}.>`);
  }
  return {
    pub: { allow: [...pub].sort(), deny: [...deny].sort() },
    sub: { allow: [...sub].sort(), deny: [] },
  };
}

/**
 * The subject permissions of a user holding `roles` (one process may run several: the
 * permissions are the union of theirs). Tenant-scoped roles read only `scope.tenant`'s
 * subjects when it is set, every tenant's otherwise.
 */
export function permissionsFor(roles: readonly NatsRole[], scope: PermissionScope): SubjectPermissions {
  const grants = roles.flatMap((role) => ROLE_GRANTS[role]);
  if (scope.providerSubjects?.length && roles.includes("worker")) {
    grants.push(publish(...scope.providerSubjects));
  }
  return compileGrants(grants, scope);
}

/**
 * The permissions of a producer (issue 14 §2): it may publish only its tenant's ingress
 * subject `bl.in.<tenant>.<producerId>.>` and receive only its own inbox and live replies
 * (`bl.live.<producerId>.>`); with `readUsage`, it may also read its tenant's usage records.
 */
export function producerPermissions(options: {
  tenant: string;
  producerId: string;
  inboxPrefix: string;
  readUsage?: boolean;
}): SubjectPermissions {
  const grants: Grant[] = [
    publish(`bl.in.${options.tenant}.${options.producerId}.>`),
    { kind: "subscribe", subjects: [`${SubjectRoots.live}.${options.producerId}.>`] },
  ];
  if (options.readUsage) grants.push(read(StreamNames.usage, `${SubjectRoots.usage}.{tenant}.>`));
  return compileGrants(grants, { inboxPrefix: options.inboxPrefix, tenant: options.tenant });
}
