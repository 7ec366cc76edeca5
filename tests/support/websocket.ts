/**
 * One websocket exchange for tests: connect to `url` with `headers`, send `message`, and resolve with
 * the first message that comes back (closing the socket); reject if the socket fails or closes first.
 */
export function firstReply(url: string, headers: Record<string, string>, message: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(url, { headers } as unknown as string[]);
    ws.onopen = () => ws.send(message);
    ws.onmessage = (e) => {
      resolve(String(e.data));
      ws.close();
    };
    ws.onerror = () => reject(new Error("websocket failed"));
    ws.onclose = (e) => reject(new Error(`websocket closed ${e.code} ${e.reason}`));
  });
}
