/** GET `url` within a second: the body, or null when it failed or was not 2xx. */
export async function fetchText(url: string): Promise<string | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return response.ok ? await response.text() : null;
  } catch {
    return null;
  }
}

/** Whether `url` answers 2xx within a second. */
export async function answersOk(url: string): Promise<boolean> {
  return (await fetchText(url)) !== null;
}
