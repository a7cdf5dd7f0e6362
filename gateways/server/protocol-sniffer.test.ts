import { connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createProtocolSniffer, type ProtocolSniffer } from "./protocol-sniffer.js";

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

let current: ProtocolSniffer | undefined;
afterEach(async () => {
  current?.destroyPending();
  await new Promise((resolve) => current?.server.close(resolve) ?? resolve(undefined));
});

/** Starts a sniffer whose targets echo back which side got the socket and every byte it received. */
async function startSniffer(firstBytesTimeoutMillis?: number): Promise<number> {
  const collect = (kind: string) => (socket: Socket) => {
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.endsWith("END")) socket.end(`${kind}:${received}`);
    });
    socket.resume();
  };
  current = createProtocolSniffer({
    onHttp1: collect("http1"),
    onH2c: collect("h2c"),
    ...(firstBytesTimeoutMillis === undefined ? {} : { firstBytesTimeoutMillis }),
  });
  await new Promise<void>((resolve) => current?.server.listen(0, "127.0.0.1", resolve));
  return (current.server.address() as AddressInfo).port;
}

/** Sends the pieces with a pause between them and returns what the server answered. */
async function exchange(port: number, pieces: readonly string[]): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  let answer = "";
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
  const closed = new Promise((resolve) => socket.on("close", resolve));
  for (const piece of pieces) {
    socket.write(piece);
    await sleep(15);
  }
  await closed;
  return answer;
}

describe("protocol sniffer", () => {
  it("hands the HTTP/2 preface to h2c with every byte, even when it arrives in pieces", async () => {
    const port = await startSniffer();
    expect(await exchange(port, [preface + "frames END"])).toBe(`h2c:${preface}frames END`);
    expect(await exchange(port, ["P", "RI * HTTP/2", ".0\r\n\r\nSM\r", "\n\r\nEND"])).toBe(`h2c:${preface}END`);
  });

  it("hands anything else to HTTP/1 with every byte, deciding as soon as the bytes differ", async () => {
    const port = await startSniffer();
    expect(await exchange(port, ["GET / HTTP/1.1\r\n\r\nEND"])).toBe("http1:GET / HTTP/1.1\r\n\r\nEND");
    expect(await exchange(port, ["PR", "OPFIND ", "END"])).toBe("http1:PROPFIND END");
    expect(await exchange(port, ["X", "END"])).toBe("http1:XEND");
  });

  it("lets go of sockets that end, reset or stay silent before deciding, and keeps serving", async () => {
    const port = await startSniffer(50);
    const ended = connect(port, "127.0.0.1");
    ended.end("PRI *");
    await new Promise((resolve) => ended.on("close", resolve));
    const reset = connect(port, "127.0.0.1", () => reset.resetAndDestroy());
    await new Promise((resolve) => reset.on("close", resolve));
    const silent = connect(port, "127.0.0.1");
    await new Promise((resolve) => silent.on("close", resolve));
    expect(await exchange(port, ["GET END"])).toBe("http1:GET END");
  });
});
