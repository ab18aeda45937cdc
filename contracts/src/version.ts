/** Version of the wire protocol between agents and coordinators (the `v1` in subjects). */
export const PROTOCOL_VERSION = 1 as const;
/** Version of the stored domain-event schema. Bumped when a stored shape changes. */
export const EVENT_SCHEMA_VERSION = 1 as const;
