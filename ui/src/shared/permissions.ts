import type { Permission, Session } from "../bindings";

/** Whether the signed-in person's role has the permission (what the window offers; the backend checks again). */
export function may(session: Session, p: Permission): boolean {
  return session.permissions.includes(p);
}
