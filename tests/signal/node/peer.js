'use strict';
// An independent Signal party (npm "libsignal", the classic Node port) speaking the same JSON-lines
// protocol as `python -m bridge.signal.conformance`, so either side can play either role.
// Usage: node peer.js [--state FILE]   (with --state, every change is written to FILE and
// "restart" reloads from it)
const fs = require('fs');
const readline = require('readline');
const libsignal = require('libsignal');

const args = process.argv.slice(2);
const stateIdx = args.indexOf('--state');
const statePath = stateIdx >= 0 ? args[stateIdx + 1] : null;

const b64 = (buf) => Buffer.from(buf).toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64');

let parties = {};

function keyPairToJson(kp) { return { pub: b64(kp.pubKey), priv: b64(kp.privKey) }; }
function keyPairFromJson(j) { return { pubKey: unb64(j.pub), privKey: unb64(j.priv) }; }

function save() {
    if (!statePath) return;
    const out = {};
    for (const [name, p] of Object.entries(parties)) {
        const sessions = {};
        for (const [addr, rec] of Object.entries(p.sessions)) sessions[addr] = rec.serialize();
        out[name] = {
            identity: keyPairToJson(p.identity), registrationId: p.registrationId,
            signedPreKeys: p.signedPreKeys, preKeys: p.preKeys, identities: p.identities, sessions,
        };
    }
    fs.writeFileSync(statePath, JSON.stringify(out));
}

function load() {
    parties = {};
    if (!statePath || !fs.existsSync(statePath)) return;
    const data = JSON.parse(fs.readFileSync(statePath, 'utf8'));
    for (const [name, p] of Object.entries(data)) {
        const sessions = {};
        for (const [addr, rec] of Object.entries(p.sessions)) {
            sessions[addr] = libsignal.SessionRecord.deserialize(rec);
        }
        parties[name] = { ...p, identity: keyPairFromJson(p.identity), sessions };
    }
}

function storageFor(p) {
    const bare = (addr) => String(addr).split('.')[0];
    return {
        async isTrustedIdentity(addr, key) {
            const known = p.identities[bare(addr)];
            if (!known) { p.identities[bare(addr)] = b64(key); return true; }
            return known === b64(key);
        },
        async loadSession(addr) { return p.sessions[addr]; },
        async storeSession(addr, record) { p.sessions[addr] = record; },
        async getOurIdentity() { return p.identity; },
        async getOurRegistrationId() { return p.registrationId; },
        async loadPreKey(id) { const k = p.preKeys[id]; return k ? keyPairFromJson(k) : undefined; },
        async removePreKey(id) { delete p.preKeys[id]; },
        async loadSignedPreKey(id) {
            const k = p.signedPreKeys[id]; return k ? keyPairFromJson(k) : undefined;
        },
    };
}

function bundleOf(p) {
    const spkId = Math.max(...Object.keys(p.signedPreKeys).map(Number));
    const spk = p.signedPreKeys[spkId];
    return {
        registrationId: p.registrationId, deviceId: 1, identityKey: b64(p.identity.pubKey),
        signedPreKey: { keyId: spkId, publicKey: spk.pub, signature: spk.sig },
        preKeys: Object.keys(p.preKeys).map(Number).sort((a, b) => a - b)
            .map((id) => ({ keyId: id, publicKey: p.preKeys[id].pub })),
    };
}

function party(name) {
    const p = parties[name];
    if (!p) throw new Error(`unknown party ${name}`);
    return p;
}

const addrOf = (peer) => new libsignal.ProtocolAddress(peer, 1);

async function handle(req) {
    switch (req.cmd) {
    case 'create': {
        const identity = libsignal.keyhelper.generateIdentityKeyPair();
        const registrationId = req.registrationId ?? libsignal.keyhelper.generateRegistrationId();
        const spkId = req.signedPreKeyId ?? 1;
        const spk = libsignal.keyhelper.generateSignedPreKey(identity, spkId);
        const preKeys = {};
        const start = req.preKeyStart ?? 1;
        for (let i = 0; i < (req.preKeys ?? 0); i++) {
            const k = libsignal.keyhelper.generatePreKey(start + i);
            preKeys[k.keyId] = keyPairToJson(k.keyPair);
        }
        parties[req.party] = {
            identity, registrationId, preKeys, identities: {}, sessions: {},
            signedPreKeys: { [spkId]: { ...keyPairToJson(spk.keyPair), sig: b64(spk.signature) } },
        };
        save();
        return { bundle: bundleOf(parties[req.party]) };
    }
    case 'bundle':
        return { bundle: bundleOf(party(req.party)) };
    case 'process_bundle': {
        const p = party(req.party);
        const b = req.bundle;
        const device = {
            registrationId: b.registrationId, identityKey: unb64(b.identityKey),
            signedPreKey: {
                keyId: b.signedPreKey.keyId, publicKey: unb64(b.signedPreKey.publicKey),
                signature: unb64(b.signedPreKey.signature),
            },
        };
        if (req.preKeyId !== null && req.preKeyId !== undefined) {
            const pk = b.preKeys.find((k) => k.keyId === req.preKeyId);
            if (!pk) throw new Error(`bundle has no prekey ${req.preKeyId}`);
            device.preKey = { keyId: pk.keyId, publicKey: unb64(pk.publicKey) };
        }
        await new libsignal.SessionBuilder(storageFor(p), addrOf(req.peer)).initOutgoing(device);
        save();
        return {};
    }
    case 'encrypt': {
        const p = party(req.party);
        const cipher = new libsignal.SessionCipher(storageFor(p), addrOf(req.peer));
        const out = await cipher.encrypt(unb64(req.plaintext));
        save();
        return { type: out.type === 3 ? 'pkmsg' : 'msg', body: b64(out.body) };
    }
    case 'decrypt': {
        const p = party(req.party);
        const cipher = new libsignal.SessionCipher(storageFor(p), addrOf(req.peer));
        const body = unb64(req.body);
        const plaintext = req.type === 'pkmsg'
            ? await cipher.decryptPreKeyWhisperMessage(body)
            : await cipher.decryptWhisperMessage(body);
        save();
        return { plaintext: b64(plaintext) };
    }
    case 'restart':
        load();
        return {};
    default:
        throw new Error(`unknown command ${req.cmd}`);
    }
}

// libsignal reports failures on the console; keep stdout for replies only.
console.log = console.warn = console.info = console.error;

load();
const rl = readline.createInterface({ input: process.stdin, terminal: false });
let queue = Promise.resolve();
rl.on('line', (line) => {
    queue = queue.then(async () => {
        if (!line.trim()) return;
        let req;
        try { req = JSON.parse(line); } catch (e) {
            process.stdout.write(JSON.stringify({ ok: false, error: 'bad JSON' }) + '\n');
            return;
        }
        if (req.cmd === 'quit') { process.stdout.write(JSON.stringify({ id: req.id, ok: true }) + '\n'); process.exit(0); }
        let reply;
        try {
            reply = { id: req.id, ok: true, ...(await handle(req)) };
        } catch (e) {
            reply = { id: req.id, ok: false, error: String(e && e.message || e) };
        }
        process.stdout.write(JSON.stringify(reply) + '\n');
    });
});
rl.on('close', () => { queue.then(() => process.exit(0)); });
