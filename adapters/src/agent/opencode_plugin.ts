// managed by ao: activity hooks (do not edit)
//
// AO (the agent-session supervisor) installs this plugin into the session's worktree and
// removes it when the session ends. It reports opencode's activity to AO by running
// `ao hooks opencode <event>` with a small JSON payload on stdin:
//   session.created              -> session-start
//   user message created/updated -> user-prompt-submit (once per message)
//   session.status idle          -> stop
// Each call is synchronous, capped at 30 s, skipped when `ao` is not on PATH, logged through
// opencode's logger on failure, and never throws.
import type { Plugin } from "@opencode-ai/plugin"

const TIMEOUT_MS = 30_000
const GUARD = 'command -v ao >/dev/null 2>&1 || exit 0; exec ao hooks opencode "$1"'

export const AoActivity: Plugin = async ({ client }) => {
  const log = async (level: "warn" | "error", message: string) => {
    try {
      await client.app.log({ body: { service: "ao-activity", level, message } })
    } catch {
      // Logging must never break the agent.
    }
  }

  const fire = async (event: string, sessionId: string | undefined, extra: Record<string, unknown> = {}) => {
    try {
      const payload = JSON.stringify({ session_id: sessionId ?? "", hook_event_name: event, ...extra })
      const result = Bun.spawnSync({
        cmd: ["/bin/sh", "-c", GUARD, "ao-hook", event],
        stdin: new TextEncoder().encode(payload),
        stdout: "ignore",
        stderr: "pipe",
        timeout: TIMEOUT_MS,
      })
      if (!result.success) {
        const stderr = result.stderr ? new TextDecoder().decode(result.stderr).trim() : ""
        await log("warn", `ao hooks opencode ${event} failed (exit ${result.exitCode}): ${stderr}`)
      }
    } catch (err) {
      await log("error", `ao hooks opencode ${event} could not run: ${String(err)}`)
    }
  }

  const seen = new Set<string>()
  const seenUserMessage = (id: unknown): boolean => {
    if (typeof id !== "string" || id === "") return false
    if (seen.has(id)) return true
    if (seen.size >= 1024) seen.clear()
    seen.add(id)
    return false
  }

  return {
    event: async ({ event }) => {
      try {
        const e = event as { type: string; properties?: any }
        const p = e.properties ?? {}
        switch (e.type) {
          case "session.created":
            await fire("session-start", p.info?.id ?? p.sessionID)
            break
          case "message.updated":
          case "message.created":
            // Once per user message: opencode updates a user message again later (e.g. its
            // summary), which must not turn an idle session back to active.
            if (p.info?.role === "user" && !seenUserMessage(p.info?.id)) {
              await fire("user-prompt-submit", p.info?.sessionID ?? p.sessionID)
            }
            break
          case "session.status":
            if (p.status?.type === "idle") {
              await fire("stop", p.sessionID)
            }
            break
        }
      } catch (err) {
        await log("error", `ao-activity: ${String(err)}`)
      }
    },
  }
}
