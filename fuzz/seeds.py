#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/ (run from anywhere; idempotent).

Seeds are real traffic: pusher-js and Echo frames, masked WebSocket frames as
browsers send them (fragmented, close, ping), Laravel's publish bodies, the
Pusher documentation's signature vectors, the repo's apps.toml, a Soketi
config.json and a Soketi-style .env.
"""
import hashlib, hmac, json, os, struct

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(ROOT)


def write(target, name, data):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(opcode, payload, fin=True, mask=b"\x37\xfa\x21\x3d"):
    if isinstance(payload, str):
        payload = payload.encode()
    out = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        out += bytes([0x80 | n])
    elif n < 65536:
        out += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        out += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return out + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws(name, stream, max_len=0x4000, splits=()):
    write("ws_decoder", name, struct.pack(">HB", max_len, len(splits)) + bytes(splits) + stream)


SUBSCRIBE = '{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}'
PRIVATE = ('{"event":"pusher:subscribe","data":{"auth":"app-key:2b4f4d9b2b8c0f0e8e0f7cf1b6cf1b1e'
           '1a9c0e6b1f7b0b7c2c8f3c9d4e5f6a7b","channel":"private-orders.1"}}')
PRESENCE = ('{"event":"pusher:subscribe","data":{"auth":"app-key:31935e7d86dba64c2a90aed31fdc6186'
            '9f9b22ba9d8863bba239c03ca481bc80","channel_data":"{\\"user_id\\":10,\\"user_info\\":'
            '{\\"name\\":\\"Mr. Channels\\"}}","channel":"presence-chat.1"}}')
WHISPER = '{"event":"client-typing","data":{"name":"Taylor","typing":true},"channel":"presence-chat.1"}'
PING = '{"event":"pusher:ping","data":{}}'

# --- ws_decoder
ws("text", frame(0x1, SUBSCRIBE))
ws("text_zero_mask", frame(0x1, PING, mask=b"\0\0\0\0"))
ws("three_frames", frame(0x1, PING) + frame(0x1, PRIVATE) + frame(0x1, WHISPER), splits=(1, 2, 7, 40))
ws("fragmented_with_ping", frame(0x1, '{"event":"pus', fin=False) + frame(0x9, "p")
   + frame(0x0, 'her:ping","data":{}}'), splits=(3, 9, 1))
ws("close_1000", frame(0x8, struct.pack(">H", 1000) + b"bye"))
ws("close_empty", frame(0x8, b""))
ws("ping_pong", frame(0x9, b"hello") + frame(0xA, b""))
ws("binary", frame(0x2, bytes(range(40))))
ws("len16", frame(0x1, "x" * 300), splits=(2, 2, 2))
ws("len64_too_big", frame(0x1, "y" * 70000)[:40], max_len=1000)
ws("unmasked", b"\x81\x05hello")
ws("continuation_alone", frame(0x0, "x"))
ws("utf8_split", frame(0x1, "é€😀".encode()[:5], fin=False) + frame(0x0, "é€😀".encode()[5:]))

# --- client_message
cm = {
    "subscribe_public": SUBSCRIBE,
    "subscribe_private": PRIVATE,
    "subscribe_presence": PRESENCE,
    "subscribe_encrypted": '{"event":"pusher:subscribe","data":{"auth":"app-key:00","channel":"private-encrypted-x"}}',
    "subscribe_cache": '{"event":"pusher:subscribe","data":{"channel":"cache-prices"}}',
    "subscribe_data_string": '{"event":"pusher:subscribe","data":"{\\"channel\\":\\"a\\"}"}',
    "unsubscribe": '{"event":"pusher:unsubscribe","data":{"channel":"my-channel"}}',
    "ping": PING,
    "pong": '{"event":"pusher:pong","data":{}}',
    "signin": '{"event":"pusher:signin","data":{"auth":"app-key:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba","user_data":"{\\"id\\":\\"12345\\",\\"name\\":\\"a\\"}"}}',
    "whisper": WHISPER,
    "client_event_string_data": '{"event":"client-msg","data":"{\\"a\\":\\"\\\\/\\"}","channel":"private-chat"}',
    "server_to_user": '{"event":"pusher:subscribe","data":{"channel":"#server-to-user-12345"}}',
    "numeric_user": '{"event":"pusher:subscribe","data":{"auth":"k:s","channel_data":{"user_id":7},"channel":"presence-x"}}',
    "ignored": '{"event":"pusher:whatever","data":null}',
}
for name, text in cm.items():
    write("client_message", name, text)

# --- api_body (flags byte: 1 batch, 2 body_md5, 4 info)
laravel = json.dumps({"name": "App\\Events\\OrderShipped", "data": json.dumps({"order": {"id": 1}}),
                      "channels": ["private-orders.1"], "socket_id": "123.456"}, separators=(",", ":"))
write("api_body", "laravel_event", b"\x02" + laravel.encode())
write("api_body", "node_sdk_event", b"\x06" + json.dumps(
    {"name": "my-event", "channel": "presence-room", "data": "{\"message\":\"hello\"}", "info": "user_count"}).encode())
write("api_body", "many_channels", b"\x00" + json.dumps(
    {"name": "e", "channels": ["a", "b", "c", "d", "e"], "data": "x"}).encode())
write("api_body", "encrypted", b"\x00" + json.dumps(
    {"name": "e", "channels": ["private-encrypted-a"], "data": "{\"nonce\":\"n\",\"ciphertext\":\"c\"}"}).encode())
write("api_body", "object_data", b"\x00" + b'{"name":"e","channel":"cache-x","data":{"a":[1,2.5e3,null]}}')
write("api_body", "batch", b"\x03" + json.dumps({"batch": [
    {"channel": "my-channel", "name": "my-event", "data": "{\"x\":1}"},
    {"channel": "#server-to-user-1", "name": "e2", "data": "hi", "info": "subscription_count"}]}).encode())
write("api_body", "batch_too_big", b"\x01" + json.dumps({"batch": [
    {"channel": "c", "name": "e", "data": "d"}] * 4}).encode())

# The first api_body "crash" (a harness bug, kept as a seed): serde reads structs from arrays too.
write("api_body", "positional_batch_crash_aa7fd8fa", b"\x0d[[]\r]\r")
write("api_body", "positional_event", b"\x00" + b'["e", "d", "c"]')

# --- signatures: key, secret, token, message, method, path, query, now, window, body
KEY, SECRET = "278d425bdf160c739803", "7ad3773142a6692b25b8"
body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
q = ("auth_key=%s&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
     "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c" % KEY)
tok = KEY + ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
write("signatures", "pusher_docs", "\n".join([KEY, SECRET, tok, "1234.1234:private-foobar", "POST",
                                              "/apps/3/events", q, "1353088189", "600", body]))
get_q = "auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&info=user_count%2Csubscription_count&filter_by_prefix=presence-"
sig = hmac.new(b"app-secret", ("GET\n/apps/app-id/channels\n" + "&".join(sorted(
    "auth_key=app-key&auth_timestamp=1700000000&auth_version=1.0&filter_by_prefix=presence-&info=user_count,subscription_count".split("&")))).encode(),
    hashlib.sha256).hexdigest()
write("signatures", "get_channels", "\n".join(["app-key", "app-secret", "app-key:00", "1.2:presence-x:{\"user_id\":1}",
                                               "GET", "/apps/app-id/channels", get_q + "&auth_signature=" + sig,
                                               "1700000100", "600", ""]))
write("signatures", "php_private_channel_data", "\n".join([
    "thisisaauthkey", "thisisasecret",
    "thisisaauthkey:3b3f1dcc4d7d2f95dd10ed05562397b3287b102d4cccfacbf30eed2f1ffa3d69",
    '45055.28877557:-azAZ9_=@,.;:{"user_id": "123"}', "post", "/apps/1/batch_events",
    "AUTH_KEY=x&auth_key=thisisaauthkey&auth_timestamp=+5&auth_version=1.0&body_md5=&a=%zz+b", "0", "0", "x"]))

# --- origins: pattern line, then the Origin header
for name, text in {"wildcard": "*.example.com\nhttps://App.Example.com",
                   "exact_port": "app.test\nhttp://app.test:8080",
                   "v6": "*\nhttp://[::1]:6001", "userinfo": "a*b*c\nhttps://u:p@axxbyyc/x",
                   "no_match": "*.example.com\nhttps://example.com.evil.test"}.items():
    write("origins", name, text)

# --- config loaders
with open(os.path.join(REPO, "apps.toml")) as f:
    write("config_toml", "apps.toml", f.read())
with open(os.path.join(REPO, "docs", "CONFIG.md")) as f:
    doc = f.read()
start = doc.index("```toml\n") + len("```toml\n")
write("config_toml", "config_md_all_keys.toml", doc[start:doc.index("```", start)])
write("config_toml", "redis.toml", '[server]\nadapter = "redis"\nredis_url = "redis://:pw@redis:6380/2"\n'
      'redis_prefix = "p"\npath_prefix = "/realtime/"\n[[apps]]\nid = "1"\nkey = "k"\nsecret = "s"\n'
      'max_event_payload_kb = 0.5\nmax_connections = 10\n')
# Overflowed KB * 1024 before the fix (config::tests::huge_size_limits_saturate).
write("config_toml", "huge_sizes.toml", "[server]\nmax_request_size_kb = 9223372036854775807\n"
      "max_message_size_kb = 18014398509481985\n")
write("config_toml", "postgres.toml", '[server]\napp_manager = "postgres"\npostgres_table = "public.apps"\napp_refresh_secs = -3\n')
write("config_toml", "mysql.toml", '[server]\napp_manager = "mysql"\nmysql_table = "soketi.apps"\nmysql_port = 3307\n'
      'mysql_password = "pw"\n')

soketi = {
    "debug": True, "port": 6001, "host": "0.0.0.0", "pathPrefix": "/ws", "shutdownGracePeriod": 3000,
    "adapter": {"driver": "redis", "redis": {"prefix": "soketi"}},
    "database": {"redis": {"host": "127.0.0.1", "port": 6379, "db": 0, "password": None}},
    "appManager": {"driver": "array", "array": {"apps": [{
        "id": "app-id", "key": "app-key", "secret": "app-secret", "maxConnections": -1,
        "enableClientMessages": True, "enabled": True, "maxBackendEventsPerSecond": -1,
        "maxClientEventsPerSecond": -1, "maxReadRequestsPerSecond": -1,
        "webhooks": [{"url": "https://example.test/hook", "event_types": ["channel_occupied", "member_added"],
                      "filter": {"channel_name_starts_with": "presence-"}}]}]}},
    "metrics": {"enabled": True, "driver": "prometheus", "prometheus": {"prefix": "soketi_"}, "port": 9601},
    "eventLimits": {"maxChannelsAtOnce": 100, "maxNameLength": 200, "maxPayloadInKb": 100, "maxBatchSize": 10},
    "presence": {"maxMembersPerChannel": 100, "maxMemberSizeInKb": 2},
    "httpApi": {"requestLimitInMb": 100, "acceptTraffic": {"memoryThreshold": 85}},
    "ssl": {"certPath": "", "keyPath": "", "passphrase": ""},
    "queue": {"driver": "sync"}, "cors": {"origin": ["*"]},
}
write("config_soketi_json", "config.json", json.dumps(soketi, indent=2))
write("config_soketi_json", "dot_keys.json", '{"port": 6010, "debug": 1, "metrics.enabled": true, '
      '"presence.maxMembersPerChannel": 7, "channelLimits.maxNameLength": 99, '
      '"appManager.array.apps": [{"AppId": 12345, "AppKey": "k2", "AppSecret": "s2", "webhooks": "[]"}]}')
write("config_soketi_json", "postgres.json", json.dumps({"appManager": {"driver": "postgres", "cache": {"enabled": True, "ttl": 60},
      "postgres": {"table": "soketi_apps"}}, "database": {"postgres": {"host": "db", "port": 5433, "user": "u",
      "password": "p", "database": "soketi"}}}))
write("config_soketi_json", "mysql.json", json.dumps({"appManager": {"driver": "mysql", "cache": {"ttl": 5},
      "mysql": {"table": "apps", "version": "8.0", "useMysql2": True}}, "database": {"mysql": {"host": "mysql",
      "port": 3306, "user": "sail", "password": "password", "database": "laravel"}}}))

write("config_env", "docker_compose.env", "\n".join([
    "SOKETI_ADAPTER_DRIVER=redis", "SOKETI_DB_REDIS_HOST=redis", 'SOKETI_DB_REDIS_PORT="6379"',
    "SOKETI_DEFAULT_APP_ID=app-id", "SOKETI_DEFAULT_APP_KEY=app-key", "SOKETI_DEFAULT_APP_SECRET=app-secret",
    'SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES="true"', "SOKETI_METRICS_ENABLED=true", ""]))
write("config_env", "all_vars.env", "\n".join([
    "# every variable the README lists", "export SOKETI_HOST=127.0.0.1", "SOKETI_PORT=6002", "SOKETI_DEBUG=1",
    "SOKETI_SHUTDOWN_GRACE_PERIOD=500", "SOKETI_DEFAULT_APP_ENABLED=false", "SOKETI_DEFAULT_APP_MAX_CONNS=-1",
    "SOKETI_DEFAULT_APP_USER_AUTHENTICATION=yes", "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC=5",
    "SOKETI_USER_AUTHENTICATION_TIMEOUT=30000", "SOKETI_PRESENCE_MAX_MEMBERS=100", "SOKETI_PRESENCE_MAX_MEMBER_SIZE=2.5",
    "SOKETI_EVENT_MAX_BATCH_SIZE=10", "SOKETI_EVENT_MAX_CHANNELS_AT_ONCE=100", "SOKETI_EVENT_MAX_NAME_LENGTH=200",
    "SOKETI_EVENT_MAX_SIZE_IN_KB=100", "SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH=200", "SOKETI_CHANNEL_CACHE_TTL=1800",
    "SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC=-1", "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC=-1",
    "SOKETI_DEFAULT_APP_WEBHOOKS='[{\"url\":\"http://h.test/\",\"event_types\":[\"client_event\"]}]'",
    "SOKETI_WEBHOOKS_BATCHING=true", "SOKETI_WEBHOOKS_BATCHING_DURATION=50", "SOKETI_METRICS_HOST=0.0.0.0",
    "SOKETI_METRICS_SERVER_PORT=9601", "SOKETI_METRICS_PROMETHEUS_PREFIX=soketi_", "SOKETI_PATH_PREFIX=/realtime",
    "SOKETI_HTTP_MAX_REQUEST_SIZE=1", "SOKETI_HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD=85",
    "SOKETI_ADAPTER_REDIS_PREFIX=p", "SOKETI_DB_REDIS_PASSWORD=pw", "SOKETI_DB_REDIS_USERNAME=u", "SOKETI_DB_REDIS_DB=3",
    "SOKETI_SSL_CERT=/c.pem", "SOKETI_SSL_KEY=/k.pem", "SOKETI_SSL_PASS=x", "SOKETI_SSL_CA=/ca.pem",
    "SOKETI_MODE=worker", "SOKETI_QUEUE_DRIVER=redis", "SOKETI_APP_MANAGER_DRIVER=postgres",
    "SOKETI_DB_POSTGRES_HOST=db", "SOKETI_DB_POSTGRES_PASSWORD=pw", "SOKETI_APP_MANAGER_POSTGRES_TABLE=apps",
    "SOKETI_APP_MANAGER_CACHE_TTL=60", ""]))
write("config_env", "mysql.env", "\n".join([
    "SOKETI_APP_MANAGER_DRIVER=mysql", "SOKETI_DB_MYSQL_HOST=mysql", "SOKETI_DB_MYSQL_PORT=3306",
    "SOKETI_DB_MYSQL_USERNAME=sail", "SOKETI_DB_MYSQL_PASSWORD=password", "SOKETI_DB_MYSQL_DATABASE=laravel",
    "SOKETI_APP_MANAGER_MYSQL_TABLE=apps", "SOKETI_APP_MANAGER_MYSQL_VERSION=8.0",
    "SOKETI_APP_MANAGER_MYSQL_USE_V2=true", ""]))
