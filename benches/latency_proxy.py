"""A TCP proxy that delays every request by a fixed time, so a benchmark
against a local emulator sees the round-trip latency of a real AWS endpoint.
Usage: latency_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS"""
import asyncio
import sys


async def pipe(reader, writer, delay):
    try:
        while data := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen, host, port, delay):
    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, port)
        # Requests wait `delay` on their way in; responses come straight back.
        await asyncio.gather(pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, 0))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, host, port, delay_ms = sys.argv[1:5]
    asyncio.run(main(int(listen), host, int(port), int(delay_ms) / 1000))
