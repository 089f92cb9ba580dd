'use strict';
// A second independent Signal party: npm "@privacyresearch/libsignal-protocol-typescript", the
// TypeScript port of libsignal-protocol-javascript, speaking the same JSON-lines protocol as
// `python -m bridge.signal.conformance` (in memory only; "restart" is not supported).
const readline = require('readline');
const { webcrypto } = require('crypto');
const signal = require('@privacyresearch/libsignal-protocol-typescript');

signal.setWebCrypto(webcrypto);

const b64 = (ab) => Buffer.from(ab).toString('base64');
const toAB = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const unb64 = (s) => toAB(Buffer.from(s, 'base64'));

const parties = {};

function storageFor(p) {
    const bare = (addr) => String(addr).split('.')[0];
    return {
        async getIdentityKeyPair() { return p.identity; },
        async getLocalRegistrationId() { return p.registrationId; },
        async isTrustedIdentity(addr, key) {
            const known = p.identities[bare(addr)];
            return !known || known === b64(key);
        },
        async saveIdentity(addr, key) {
            const id = bare(addr); const changed = p.identities[id] && p.identities[id] !== b64(key);
            p.identities[id] = b64(key); return Boolean(changed);
        },
        async loadPreKey(id) { return p.preKeys[id]; },
        async storePreKey(id, kp) { p.preKeys[id] = kp; },
        async removePreKey(id) { delete p.preKeys[id]; },
        async loadSignedPreKey(id) { return p.signedPreKeys[id] && p.signedPreKeys[id].keyPair; },
        async storeSignedPreKey(id, kp) { p.signedPreKeys[id] = { keyPair: kp }; },
        async removeSignedPreKey(id) { delete p.signedPreKeys[id]; },
        async loadSession(addr) { return p.sessions[addr]; },
        async storeSession(addr, record) { p.sessions[addr] = record; },
    };
}

function bundleOf(p) {
    const spkId = Math.max(...Object.keys(p.signedPreKeys).map(Number));
    const spk = p.signedPreKeys[spkId];
    return {
        registrationId: p.registrationId, deviceId: 1, identityKey: b64(p.identity.pubKey),
        signedPreKey: { keyId: spkId, publicKey: b64(spk.keyPair.pubKey), signature: b64(spk.signature) },
        preKeys: Object.keys(p.preKeys).map(Number).sort((a, b) => a - b)
            .map((id) => ({ keyId: id, publicKey: b64(p.preKeys[id].pubKey) })),
    };
}

function party(name) {
    const p = parties[name];
    if (!p) throw new Error(`unknown party ${name}`);
    return p;
}

const addrOf = (peer) => new signal.SignalProtocolAddress(peer, 1);

async function handle(req) {
    switch (req.cmd) {
    case 'create': {
        const identity = await signal.KeyHelper.generateIdentityKeyPair();
        const registrationId = req.registrationId ?? signal.KeyHelper.generateRegistrationId();
        const spkId = req.signedPreKeyId ?? 1;
        const spk = await signal.KeyHelper.generateSignedPreKey(identity, spkId);
        const preKeys = {};
        const start = req.preKeyStart ?? 1;
        for (let i = 0; i < (req.preKeys ?? 0); i++) {
            const k = await signal.KeyHelper.generatePreKey(start + i);
            preKeys[k.keyId] = k.keyPair;
        }
        parties[req.party] = {
            identity, registrationId, preKeys, identities: {}, sessions: {},
            signedPreKeys: { [spkId]: { keyPair: spk.keyPair, signature: spk.signature } },
        };
        return { bundle: bundleOf(parties[req.party]) };
    }
    case 'bundle':
        return { bundle: bundleOf(party(req.party)) };
    case 'process_bundle': {
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
        await new signal.SessionBuilder(storageFor(party(req.party)), addrOf(req.peer)).processPreKey(device);
        return {};
    }
    case 'encrypt': {
        const cipher = new signal.SessionCipher(storageFor(party(req.party)), addrOf(req.peer));
        const out = await cipher.encrypt(unb64(req.plaintext));
        return { type: out.type === 3 ? 'pkmsg' : 'msg', body: Buffer.from(out.body, 'binary').toString('base64') };
    }
    case 'decrypt': {
        const cipher = new signal.SessionCipher(storageFor(party(req.party)), addrOf(req.peer));
        const body = unb64(req.body);
        const plaintext = req.type === 'pkmsg'
            ? await cipher.decryptPreKeyWhisperMessage(body)
            : await cipher.decryptWhisperMessage(body);
        return { plaintext: b64(plaintext) };
    }
    default:
        throw new Error(`unsupported command ${req.cmd}`);
    }
}

console.log = console.warn = console.info = console.error;

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
