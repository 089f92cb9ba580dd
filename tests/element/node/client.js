// An Element-Web-like Matrix client for tests: matrix-js-sdk with its Rust crypto, in Node,
// driven over JSON lines.
//
//   stdin:  one request per line   {"id": 1, "cmd": "start", ...fields}
//   stdout: one response per line  {"id": 1, "ok": true, ...} | {"id": 1, "ok": false, "error": "..."}
//   stderr: logs (js-sdk, Rust crypto and ours)
//
// Requests are handled concurrently, so a long `wait_event` does not hold up other requests;
// responses carry the request's id and may come back out of order. Things that happen on their
// own (timeline events, invites) are buffered here and fetched with requests (`wait_event`,
// `wait_invite`, ...), so the protocol stays request/response. See ../README.md.

// stdout carries the protocol only. js-sdk logs through `loglevel`, which writes with
// console.*; point every console method at stderr before the SDK is loaded (hence the dynamic
// import below: static imports would run first).
import { format } from "node:util";
import readline from "node:readline";

const protocolOut = process.stdout;
for (const method of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[method] = (...args) => process.stderr.write(format(...args) + "\n");
}

// matrix-js-sdk 43 declares Node >= 22 and calls Promise.withResolvers (ES2024), which Node 20
// lacks. This is the whole of what it needs from Node 22 (everything else it uses either exists
// in Node 20 or has a fallback, e.g. Uint8Array.fromBase64), so fill it in.
if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function withResolvers() {
        let resolve, reject;
        const promise = new this((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}

const sdk = await import("matrix-js-sdk");
const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
const { ClientEvent, RoomEvent, RoomMemberEvent, MatrixEventEvent, SyncState, EventType, Preset } = sdk;
const {
    OnlySignedDevicesIsolationMode,
    AllDevicesIsolationMode,
    EventShieldColour,
    EventShieldReason,
    DecryptionFailureCode,
} = cryptoApi;

// js-sdk and the Rust crypto are chatty at debug level; ELEMENT_CLIENT_LOG_LEVEL=debug for all.
logger.setLevel(process.env.ELEMENT_CLIENT_LOG_LEVEL || "info");

function log(...args) {
    process.stderr.write(`[element-client] ${format(...args)}\n`);
}

// Decryption failures that a later to-device message (the room key, or a "withheld" notice)
// may still turn into a success or a different failure: js-sdk keeps such events pending and
// retries them itself. All other failure codes (UNSIGNED_SENDER_DEVICE, UNKNOWN_SENDER_DEVICE,
// ...) are verdicts and final.
const TRANSIENT_FAILURES = new Set([
    DecryptionFailureCode.MEGOLM_UNKNOWN_INBOUND_SESSION_ID,
    DecryptionFailureCode.OLM_UNKNOWN_MESSAGE_INDEX,
]);

class ProtocolError extends Error {}

/** Everything about one live client; at most one per process. */
const state = {
    client: null,
    userId: null,
    deviceId: null,
    password: null,
    usedUia: false, // whether a cross-signing upload needed the password
    excludeInsecure: true,
    // room id -> [record], in timeline order; a record is what `describe` returns plus bookkeeping
    events: new Map(),
    // event ids already handed out by wait_event, per room
    returned: new Map(),
    // event ids we sent ourselves (their remote echoes are not "received")
    sent: new Set(),
    invites: [], // room ids invited to, not yet handed out by wait_invite
    seenInvites: new Set(),
    // woken on every change to the buffers; waiters re-check their condition
    waiters: new Set(),
};

function notify() {
    for (const wake of [...state.waiters]) wake();
}

/**
 * Wait until `check()` returns something other than undefined, re-checking on every change and at
 * least every `pollMs` (some conditions depend on time or on SDK state we get no event for).
 */
function waitFor(check, timeoutSeconds, what, pollMs = 250) {
    return new Promise((resolve, reject) => {
        let timer, poller;
        const finish = (fn, value) => {
            state.waiters.delete(wake);
            clearTimeout(timer);
            clearInterval(poller);
            fn(value);
        };
        const wake = () => {
            let value;
            try {
                value = check();
            } catch (err) {
                finish(reject, err);
                return;
            }
            if (value !== undefined) finish(resolve, value);
        };
        state.waiters.add(wake);
        const timedOut = () => new ProtocolError(`timed out after ${timeoutSeconds} s waiting for ${what}`);
        timer = setTimeout(() => finish(reject, timedOut()), timeoutSeconds * 1000);
        poller = setInterval(wake, pollMs);
        wake();
    });
}

function requireClient() {
    if (!state.client) throw new ProtocolError("no client yet: send `start` first");
    return state.client;
}

function requireField(req, name, type) {
    const value = req[name];
    if (value === undefined || value === null) throw new ProtocolError(`missing field '${name}'`);
    if (type && typeof value !== type) throw new ProtocolError(`field '${name}' must be a ${type}`);
    return value;
}

function isolationMode(exclude) {
    // AllDevicesIsolationMode(false): keys go to all devices, no error on verified-user problems,
    // which is Element's setting when "exclude insecure devices" is off.
    return exclude ? new OnlySignedDevicesIsolationMode() : new AllDevicesIsolationMode(false);
}

// ---- recording received events ----------------------------------------------------------

function roomRecords(roomId) {
    let list = state.events.get(roomId);
    if (!list) {
        list = [];
        state.events.set(roomId, list);
    }
    return list;
}

/** Record a timeline event and follow its decryption; each (re)decryption refreshes the record. */
function recordEvent(event, room) {
    const eventId = event.getId();
    // Local echoes (status set, "~" ids) and remote echoes of what we sent are not received.
    if (!eventId || !eventId.startsWith("$") || event.status !== null || state.sent.has(eventId)) return;
    const records = roomRecords(room.roomId);
    if (records.some((r) => r.event.getId() === eventId)) return;
    const record = { event, info: null, settled: false, failedAt: null, refreshing: null, errorMessage: null };
    records.push(record);
    if (event.isEncrypted()) {
        // The `err` of the Decrypted event is the only place with the SDK's message text.
        event.on(MatrixEventEvent.Decrypted, (_ev, err) => {
            record.errorMessage = err ? String(err.message || err) : null;
            void refresh(record);
        });
        // js-sdk has usually already started decrypting (its event mapper does); this returns
        // that attempt's promise, or starts one.
        state.client.decryptEventIfNeeded(event).finally(() => refresh(record));
    } else {
        void refresh(record);
    }
    notify();
}

/** Recompute a record's description (shield, device) after a decryption attempt. */
function refresh(record) {
    // Serialise refreshes of one record, so a slow earlier one cannot overwrite a later one.
    const previous = record.refreshing || Promise.resolve();
    record.refreshing = previous.then(async () => {
        if (record.event.isBeingDecrypted()) return; // its Decrypted event will call us again
        try {
            record.info = await describe(record.event, record.errorMessage);
        } catch (err) {
            log(`describing ${record.event.getId()} failed:`, err);
            // still a complete description, marked as not decrypted
            record.info = {
                ...basicInfo(record.event), content: {}, encrypted: record.event.isEncrypted(),
                decrypted: false, decryption_error: "DESCRIBE_FAILED", decryption_error_message: String(err),
            };
        }
        record.failedAt = record.info.decrypted || !record.info.encrypted ? null : (record.failedAt ?? Date.now());
        record.settled = true;
        notify();
    });
    return record.refreshing;
}

function basicInfo(event) {
    return {
        event_id: event.getId(),
        room_id: event.getRoomId(),
        sender: event.getSender(),
        type: event.getType(),
        wire_type: event.getWireType(),
        state_key: event.getStateKey() ?? null,
        origin_server_ts: event.getTs(),
        redacted: event.isRedacted(),
    };
}

/**
 * A failed event's clear content is js-sdk's placeholder, `** Unable to decrypt: <String(err)> **`;
 * recover the error's message from it when we missed the Decrypted event that carried the error
 * (the decryption finished before we started listening).
 */
function failureMessageFromPlaceholder(event) {
    const body = event.getContent().body;
    if (typeof body !== "string") return null;
    const match = /^\*\* Unable to decrypt: (?:\w*Error: )?(.*) \*\*$/s.exec(body);
    return match ? match[1] : body;
}

function enumName(enumObject, value) {
    if (value === null || value === undefined) return null;
    return enumObject[value] ?? String(value);
}

/** The JSON the protocol returns for an event. */
async function describe(event, errorMessage) {
    const crypto = state.client.getCrypto();
    const encrypted = event.isEncrypted();
    const failed = encrypted && event.isDecryptionFailure();
    const decrypted = encrypted && !failed && event.getClearContent() !== null;
    const wire = event.getWireContent();
    const info = {
        ...basicInfo(event),
        content: !encrypted || decrypted ? event.getContent() : {},
        encrypted,
        decrypted,
        decryption_error: failed ? (event.decryptionFailureReason ?? "UNKNOWN") : null,
        decryption_error_message: failed ? (errorMessage ?? failureMessageFromPlaceholder(event)) : null,
        shield_colour: null,
        shield_reason: null,
        session_id: encrypted ? (wire.session_id ?? null) : null,
        sender_device_id: null,
        sender_device_source: null,
        sender_device_cross_signed: null,
        sender_device_verified: null,
    };
    if (!encrypted) return info;

    if (decrypted) {
        // null when the SDK did not decrypt it (cannot happen here) or for our own local echoes
        const encryption = await crypto.getEncryptionInfoForEvent(event);
        if (encryption) {
            info.shield_colour = enumName(EventShieldColour, encryption.shieldColour);
            info.shield_reason = enumName(EventShieldReason, encryption.shieldReason);
        }
    }

    // Which device made the Megolm session: the wire content says so (deprecated `device_id`,
    // still sent by the Rust crypto), else find the device owning the session's Curve25519 key.
    if (wire.device_id) {
        info.sender_device_id = wire.device_id;
        info.sender_device_source = "wire_content";
    } else {
        const senderKey = event.getSenderKey(); // from decryption, else the wire's sender_key
        if (senderKey) {
            const devices = (await crypto.getUserDeviceInfo([event.getSender()], true)).get(event.getSender());
            for (const device of devices?.values() ?? []) {
                if (device.getIdentityKey() === senderKey) {
                    info.sender_device_id = device.deviceId;
                    info.sender_device_source = "sender_key";
                }
            }
        }
    }
    if (info.sender_device_id) {
        const status = await crypto.getDeviceVerificationStatus(event.getSender(), info.sender_device_id);
        if (status) {
            info.sender_device_cross_signed = status.signedByOwner;
            info.sender_device_verified = status.isVerified();
        }
    }
    return info;
}

/**
 * An event is ready to hand out once its decryption is over: decrypted, or failed for good, or
 * failed for a missing key and no key came within `keyGraceMs` (js-sdk retries when it does).
 */
function isReady(record, keyGraceMs) {
    if (!record.settled || !record.info) return false;
    const info = record.info;
    if (!info.encrypted || info.decrypted) return true;
    if (!TRANSIENT_FAILURES.has(info.decryption_error)) return true;
    return Date.now() - record.failedAt >= keyGraceMs;
}

function matches(info, filter) {
    if (filter.sender && info.sender !== filter.sender) return false;
    if (filter.type) {
        if (info.type !== filter.type && info.wire_type !== filter.type) return false;
    } else if (info.state_key !== null) {
        return false; // without a type, only message-like events: room state is noise here
    }
    if (filter.body_contains) {
        const body = info.content?.body;
        if (typeof body !== "string" || !body.includes(filter.body_contains)) return false;
    }
    return true;
}

// ---- setup ---------------------------------------------------------------------------------

async function start(req) {
    if (state.client) throw new ProtocolError("already started");
    const homeserver = requireField(req, "homeserver", "string");
    const userId = requireField(req, "user_id", "string");
    const accessToken = requireField(req, "access_token", "string");
    const deviceId = requireField(req, "device_id", "string");
    state.userId = userId;
    state.deviceId = deviceId;
    state.password = req.password ?? null;
    state.excludeInsecure = req.exclude_insecure_devices ?? true;

    const client = sdk.createClient({ baseUrl: homeserver, userId, accessToken, deviceId });
    state.client = client;
    // useIndexedDB: false keeps the Rust crypto store in memory (Node has no IndexedDB): the
    // device's keys live as long as this process.
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    crypto.setDeviceIsolationMode(isolationMode(state.excludeInsecure));

    client.on(RoomEvent.Timeline, (event, room, toStartOfTimeline) => {
        if (room && !toStartOfTimeline) recordEvent(event, room);
    });
    client.on(RoomEvent.MyMembership, (room, membership) => {
        if (membership === "invite" && !state.seenInvites.has(room.roomId)) {
            state.seenInvites.add(room.roomId);
            state.invites.push(room.roomId);
            notify();
        }
    });
    client.on(RoomMemberEvent.Membership, () => notify());
    client.on(ClientEvent.Room, () => notify());

    const prepared = new Promise((resolve, reject) => {
        const onSync = (syncState, _prev, data) => {
            if (syncState === SyncState.Prepared || syncState === SyncState.Syncing) {
                client.off(ClientEvent.Sync, onSync);
                resolve();
            } else if (syncState === SyncState.Error && data?.error?.httpStatus === 401) {
                client.off(ClientEvent.Sync, onSync);
                reject(new ProtocolError(`initial sync refused: ${data.error.message}`));
            }
        };
        client.on(ClientEvent.Sync, onSync);
    });
    // initialSyncLimit: enough recent events for a test room; lazy loading as Element does.
    await client.startClient({ initialSyncLimit: 20, lazyLoadMembers: true });
    await prepared;
    const keys = await crypto.getOwnDeviceKeys();
    return {
        user_id: userId,
        device_id: deviceId,
        crypto_version: crypto.getVersion(),
        ed25519: keys.ed25519,
        curve25519: keys.curve25519,
        exclude_insecure_devices: state.excludeInsecure,
    };
}

/** UIA for uploading cross-signing keys: try without auth, then with the password if asked. */
async function authUploadDeviceSigningKeys(makeRequest) {
    try {
        await makeRequest(null);
        return;
    } catch (err) {
        const flows = err?.data?.flows;
        if (err?.httpStatus !== 401 || !flows) throw err;
        if (!state.password) {
            throw new ProtocolError("the server wants UIA for cross-signing keys and no password was given");
        }
        log("server asks for UIA to upload cross-signing keys; using the password");
        state.usedUia = true;
        await makeRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: state.userId },
            password: state.password,
            session: err.data.session,
        });
    }
}

async function bootstrapCrossSigning(req) {
    const crypto = requireClient().getCrypto();
    // reset: make new keys even if there are some (replacing them needs UIA on Synapse)
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys, setupNewCrossSigning: Boolean(req.reset) });
    return { ...(await ownStatus()), used_uia: state.usedUia };
}

async function ownStatus() {
    const crypto = requireClient().getCrypto();
    const status = await crypto.getCrossSigningStatus();
    const device = await crypto.getDeviceVerificationStatus(state.userId, state.deviceId);
    return {
        cross_signing_ready: await crypto.isCrossSigningReady(),
        public_keys_on_device: status.publicKeysOnDevice,
        private_keys_cached: status.privateKeysCachedLocally,
        master_key_id: await crypto.getCrossSigningKeyId(),
        device_cross_signed: device ? device.signedByOwner : null,
        exclude_insecure_devices: state.excludeInsecure,
    };
}

// ---- rooms ---------------------------------------------------------------------------------

async function createRoom(req) {
    const client = requireClient();
    const invite = req.invite ?? [];
    const options = {
        invite,
        is_direct: req.is_direct ?? true,
        // what Element uses for DMs and private rooms: invited members may join, shared history
        preset: Preset.TrustedPrivateChat,
        initial_state: [],
    };
    if (req.name) options.name = req.name;
    if (req.encrypted ?? true) {
        options.initial_state.push({
            type: EventType.RoomEncryption,
            state_key: "",
            content: { algorithm: "m.megolm.v1.aes-sha2" },
        });
    }
    const { room_id: roomId } = await client.createRoom(options);
    // Sending needs the room (and its encryption state) in the client's store: wait for sync.
    await waitFor(() => (client.getRoom(roomId)?.getMyMembership() === "join" ? true : undefined),
        req.timeout ?? 30, `room ${roomId} to come down sync`);
    return { room_id: roomId };
}

async function join(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    await client.joinRoom(roomId);
    await waitFor(() => (client.getRoom(roomId)?.getMyMembership() === "join" ? true : undefined),
        req.timeout ?? 30, `our join of ${roomId} to come down sync`);
    return { room_id: roomId };
}

async function waitInvite(req) {
    requireClient();
    const roomId = await waitFor(() => (state.invites.length ? state.invites.shift() : undefined),
        req.timeout ?? 30, "an invite");
    return { room_id: roomId };
}

async function waitMembership(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    const userId = requireField(req, "user_id", "string");
    const membership = req.membership ?? "join";
    await waitFor(() => (client.getRoom(roomId)?.getMember(userId)?.membership === membership ? true : undefined),
        req.timeout ?? 30, `${userId} to be '${membership}' in ${roomId}`);
    return {};
}

// ---- sending -------------------------------------------------------------------------------

/** Send through js-sdk (which encrypts in encrypted rooms), remembering our event ids. */
async function sent(promise) {
    const { event_id: eventId } = await promise;
    state.sent.add(eventId);
    return { event_id: eventId };
}

function send(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    const content = requireField(req, "content", "object");
    return sent(client.sendEvent(roomId, req.event_type ?? "m.room.message", content));
}

function sendReaction(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    const content = {
        "m.relates_to": {
            rel_type: "m.annotation",
            event_id: requireField(req, "event_id", "string"),
            key: requireField(req, "key", "string"),
        },
    };
    return sent(client.sendEvent(roomId, EventType.Reaction, content));
}

function redact(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    const eventId = requireField(req, "event_id", "string");
    const opts = req.reason ? { reason: req.reason } : undefined;
    return sent(client.redactEvent(roomId, eventId, undefined, opts));
}

function findEvent(roomId, eventId) {
    const room = requireClient().getRoom(roomId);
    if (!room) throw new ProtocolError(`unknown room ${roomId}`);
    const event = room.findEventById(eventId);
    if (!event) throw new ProtocolError(`event ${eventId} is not in our timeline of ${roomId}`);
    return event;
}

async function sendReceipt(req) {
    const client = requireClient();
    const event = findEvent(requireField(req, "room_id", "string"), requireField(req, "event_id", "string"));
    await client.sendReadReceipt(event);
    return {};
}

async function typing(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    await client.sendTyping(roomId, Boolean(req.on), req.timeout_ms ?? 30000);
    return {};
}

// ---- observing -----------------------------------------------------------------------------

async function waitEvent(req) {
    requireClient();
    const roomId = requireField(req, "room_id", "string");
    const keyGraceMs = (req.key_grace ?? 5) * 1000;
    const filter = { sender: req.sender, type: req.type, body_contains: req.body_contains };
    let returned = state.returned.get(roomId);
    if (!returned) state.returned.set(roomId, (returned = new Set()));
    const record = await waitFor(() => {
        for (const r of state.events.get(roomId) ?? []) {
            if (returned.has(r.event.getId())) continue;
            // Match on what is known so far; an undecrypted event may still match once decrypted,
            // so events not yet ready hold the queue only if they could match.
            if (!isReady(r, keyGraceMs)) {
                if (!r.info || couldMatch(r.info, filter)) return undefined;
                continue;
            }
            if (matches(r.info, filter)) return r;
        }
        return undefined;
    }, req.timeout ?? 30, `an event in ${roomId} matching ${JSON.stringify(filter)}`);
    returned.add(record.event.getId());
    return { event: current(record) };
}

/** Could an event, still being decrypted, match the filter once it is? */
function couldMatch(info, filter) {
    if (filter.sender && info.sender !== filter.sender) return false;
    return info.encrypted && !info.decrypted ? true : matches(info, filter);
}

async function events(req) {
    requireClient();
    const roomId = requireField(req, "room_id", "string");
    // Wait (briefly) for describes in flight, so the list is consistent.
    const records = state.events.get(roomId) ?? [];
    await Promise.all(records.map((r) => r.refreshing));
    return { events: records.filter((r) => r.info).map(current) };
}

/** A record's description with what may have changed since it was made (a redaction). */
function current(record) {
    if (!record.event.isRedacted()) return record.info;
    return { ...record.info, redacted: true, content: record.event.getContent() };
}

/** Try again to decrypt a failed event (e.g. after switching the isolation mode). */
async function retryDecryption(req) {
    const client = requireClient();
    const roomId = requireField(req, "room_id", "string");
    const eventId = requireField(req, "event_id", "string");
    const record = (state.events.get(roomId) ?? []).find((r) => r.event.getId() === eventId);
    if (!record) throw new ProtocolError(`no received event ${eventId} in ${roomId}`);
    if (record.event.isEncrypted() && record.event.isDecryptionFailure()) {
        // decryptEventIfNeeded does nothing for an event that already failed (it has clear
        // content: the failure placeholder); attemptDecryption is what js-sdk itself calls
        // when a key arrives. getCrypto() is the Rust crypto backend it expects.
        await record.event.attemptDecryption(client.getCrypto(), { isRetry: true });
    }
    await refresh(record);
    return { event: record.info };
}

async function deviceInfo(req) {
    const crypto = requireClient().getCrypto();
    const userId = requireField(req, "user_id", "string");
    // downloadUncached: query the server for users we do not track yet
    const devices = (await crypto.getUserDeviceInfo([userId], true)).get(userId) ?? new Map();
    const result = {};
    for (const [deviceId, device] of devices) {
        const status = await crypto.getDeviceVerificationStatus(userId, deviceId);
        result[deviceId] = {
            display_name: device.displayName ?? null,
            cross_signed_by_owner: status ? status.signedByOwner : false,
            verified: status ? status.isVerified() : false,
            locally_verified: status ? status.localVerified : false,
            cross_signing_verified: status ? status.crossSigningVerified : false,
            curve25519: device.getIdentityKey() ?? null,
            ed25519: device.getFingerprint() ?? null,
        };
    }
    return { devices: result };
}

async function userCrossSigning(req) {
    const crypto = requireClient().getCrypto();
    const userId = requireField(req, "user_id", "string");
    await crypto.getUserDeviceInfo([userId], true); // makes sure we have their keys
    const keys = await crypto.getUserCrossSigningKeys(userId);
    const status = await crypto.getUserVerificationStatus(userId);
    // CrossSigningKeys are key objects ({user_id, usage, keys: {"ed25519:<pub>": "<pub>"}, ...});
    // report the public keys
    const publicKey = (key) => (key ? Object.values(key.keys ?? {})[0] ?? null : null);
    return {
        has_master_key: Boolean(keys?.master_key),
        master_key: publicKey(keys?.master_key),
        self_signing_key: publicKey(keys?.self_signing_key),
        user_signing_key: publicKey(keys?.user_signing_key), // only visible for our own user
        known: status.known,
        verified: status.isVerified(),
        cross_signing_verified: status.isCrossSigningVerified(),
        was_cross_signing_verified: status.wasCrossSigningVerified(),
        needs_user_approval: status.needsUserApproval,
    };
}

function setExcludeInsecureDevices(req) {
    const crypto = requireClient().getCrypto();
    if (typeof req.on !== "boolean") throw new ProtocolError("field 'on' must be a boolean");
    state.excludeInsecure = req.on;
    crypto.setDeviceIsolationMode(isolationMode(req.on));
    return { exclude_insecure_devices: req.on };
}

async function stop() {
    if (state.client) {
        state.client.stopClient();
        state.client = null;
    }
    // exit once the response is written
    setImmediate(() => process.exit(0));
    return {};
}

const COMMANDS = {
    start,
    bootstrap_cross_signing: bootstrapCrossSigning,
    own_status: ownStatus,
    set_exclude_insecure_devices: setExcludeInsecureDevices,
    create_room: createRoom,
    join,
    wait_invite: waitInvite,
    wait_membership: waitMembership,
    send,
    send_reaction: sendReaction,
    redact,
    send_receipt: sendReceipt,
    typing,
    wait_event: waitEvent,
    events,
    retry_decryption: retryDecryption,
    device_info: deviceInfo,
    user_cross_signing: userCrossSigning,
    ping: () => ({}),
    stop,
};

// ---- the JSON-lines loop -------------------------------------------------------------------

function reply(message) {
    protocolOut.write(JSON.stringify(message) + "\n");
}

async function handle(line) {
    let req;
    try {
        req = JSON.parse(line);
    } catch (err) {
        reply({ id: null, ok: false, error: `invalid JSON: ${err.message}` });
        return;
    }
    if (req === null || typeof req !== "object" || Array.isArray(req)) {
        reply({ id: null, ok: false, error: "a request must be a JSON object" });
        return;
    }
    const id = req.id ?? null;
    const command = Object.hasOwn(COMMANDS, req.cmd) ? COMMANDS[req.cmd] : null;
    if (!command) {
        const known = Object.keys(COMMANDS).join(", ");
        reply({ id, ok: false, error: `unknown command ${JSON.stringify(req.cmd ?? null)}; known: ${known}` });
        return;
    }
    try {
        const result = await command(req);
        reply({ id, ok: true, ...result });
    } catch (err) {
        // MatrixError carries the server's errcode; show it, it is what tests want to see
        const detail = err?.errcode ? `${err.errcode}: ${err.message}` : String(err?.message ?? err);
        if (!(err instanceof ProtocolError)) log(`${req.cmd} failed:`, err);
        reply({ id, ok: false, error: detail });
    }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
    if (line.trim()) void handle(line);
});
// stdin closed: the test is gone, so are we
lines.on("close", () => {
    state.client?.stopClient();
    process.exit(0);
});
process.on("unhandledRejection", (err) => log("unhandled rejection:", err));
log(`ready (node ${process.version})`);
