#!/usr/bin/env python3
"""One socket hoards subscriptions (issue 12): it subscribes to N public channels
in one burst, then leaves them all, while an honest socket on the same node
(start the server with --threads 1 so both share a thread) pings every 5 ms.
Prints how long the hoarder's bursts took and the honest socket's worst ping
round trip during each (the probe runs in its own process, so the hoarder's
client work does not delay it).

  pip install websockets
  HERALD_MAX_CHANNELS_PER_CONNECTION=0 herald --threads 1   # no cap (300 by default)
  scripts/bench-hoard.py --port 6001 [--channels 20000]
"""
import argparse, asyncio, json, time
import websockets

async def honest(url, stop, rtts):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # connection_established
        while not stop.is_set():
            t = time.perf_counter()
            await ws.send('{"event":"pusher:ping","data":{}}')
            while json.loads(await ws.recv())["event"] != "pusher:pong":
                pass
            rtts.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.005)

async def subscribe_all(ws, subs):
    """Send every subscribe, then wait for as many subscription_succeeded."""
    for f in subs:
        await ws.send(f)
    got = 0
    while got < len(subs):
        if json.loads(await ws.recv())["event"] == "pusher_internal:subscription_succeeded":
            got += 1

def probe(url, conn):
    """In a child process: ping until told to stop; on each "mark" message, send
    back the worst round trip since the previous mark."""
    async def run():
        stop, rtts = asyncio.Event(), []
        task = asyncio.create_task(honest(url, stop, rtts))
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            conn.send(max(rtts) if rtts else None)
            rtts.clear()
            if cmd == "stop":
                stop.set()
                await task
                return
    asyncio.run(run())

async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6001)
    p.add_argument("--key", default="app-key")
    p.add_argument("--channels", type=int, default=20000)
    a = p.parse_args()
    url = f"ws://{a.host}:{a.port}/app/{a.key}?protocol=7&client=js&version=8.4.0"
    import multiprocessing
    here, there = multiprocessing.Pipe()
    child = multiprocessing.Process(target=probe, args=(url, there))
    child.start()
    loop = asyncio.get_running_loop()
    async def mark(cmd="mark"):
        await loop.run_in_executor(None, here.send, cmd)
        return await loop.run_in_executor(None, here.recv)
    await asyncio.sleep(1.0)
    quiet = await mark()
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        subs = [json.dumps({"event": "pusher:subscribe", "data": {"channel": f"hoard-{i}"}})
                for i in range(a.channels)]
        await mark()
        t = time.perf_counter()
        await subscribe_all(ws, subs)
        sub_s = time.perf_counter() - t
        during_sub = await mark()
        t = time.perf_counter()
        for i in range(a.channels):
            await ws.send(json.dumps({"event": "pusher:unsubscribe", "data": {"channel": f"hoard-{i}"}}))
        await ws.send('{"event":"pusher:ping","data":{}}')
        while json.loads(await ws.recv())["event"] != "pusher:pong":
            pass
        unsub_s = time.perf_counter() - t
        during_unsub = await mark()
        # Subscribe again and disconnect holding every channel.
        await subscribe_all(ws, subs)
        await mark()
    await asyncio.sleep(1.0)
    during_close = await mark("stop")
    child.join()
    mx = lambda x: f"{x:.1f}" if x is not None else "-"
    print(f"channels={a.channels} subscribe_all={sub_s:.2f}s unsubscribe_all={unsub_s:.2f}s "
          f"honest_ping_ms quiet_max={mx(quiet)} during_subscribe_max={mx(during_sub)} "
          f"during_unsubscribe_max={mx(during_unsub)} disconnect_holding_all_max={mx(during_close)}")

asyncio.run(main())
