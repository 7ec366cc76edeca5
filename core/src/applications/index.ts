/**
 * /api/v3/core/applications/ (by slug): superusers manage them; everyone lists and opens only what
 * their policies allow (superusers see everything with `superuser_full_list=true`); `check_access`.
 */
import { Elysia } from "elysia";
import { forbidden, notFound } from "../../../shared/errors.ts";
import { authenticated } from "../api/authenticated.ts";
import { crudRoutes } from "../api/crud.ts";
import { boolParam, intListParam } from "../api/query.ts";
import type { Actor } from "../auth/actor.ts";
import type { CoreContext, Db } from "../context.ts";
import { oauth2Changed } from "../oauth2/cache.ts";
import { findUser } from "../users/service.ts";
import {
  APPLICATION_READ_ONLY,
  ApplicationRequest,
  checkApplicationAccess,
  createApplication,
  deleteApplication,
  getApplication,
  listApplications,
  serializeApplications,
  updateApplication,
} from "./service.ts";

function slugKey(raw: string): string {
  if (!/^[-a-zA-Z0-9_]{1,50}$/.test(raw))
    throw notFound("AP0010BadSlug", "No Application matches the given query.");
  return raw;
}

const http = (meta: { ip: string | null; userAgent: string; path: string }) => ({
  ip: meta.ip,
  userAgent: meta.userAgent,
  path: meta.path,
});

export function applicationsController(ctx: CoreContext) {
  const visible = async (db: Db, slug: string, actor?: Actor) => {
    const app = await getApplication(db, slug);
    if (actor && !actor.superuser) {
      const result = await checkApplicationAccess(ctx, app, {
        user: actor.user,
        http: { ip: null, userAgent: "", path: "" },
        context: {},
      });
      if (!result.passing) throw notFound("AP0011NotVisible", "No Application matches the given query.");
    }
    return app;
  };
  const crud = crudRoutes(ctx, {
    prefix: "/core/applications",
    tag: "core",
    operation: "core_applications",
    schema: ApplicationRequest,
    readOnly: APPLICATION_READ_ONLY,
    key: slugKey,
    readableByAll: true,
    list: (c, params, page, actor) =>
      listApplications(
        c,
        params,
        page,
        actor.superuser && boolParam(params, "superuser_full_list")
          ? undefined
          : { user: actor.user, http: { ip: null, userAgent: "", path: "" } },
      ),
    get: visible,
    // An application gives its OAuth2 provider its issuer and discovery document.
    create: (db, input, _actor, afterCommit) => {
      afterCommit(() => oauth2Changed(ctx));
      return createApplication(db, input);
    },
    update: (db, key, input, afterCommit) => {
      afterCommit(() => oauth2Changed(ctx));
      return updateApplication(db, key, input);
    },
    remove: (db, key, afterCommit) => {
      afterCommit(() => oauth2Changed(ctx));
      return deleteApplication(db, key);
    },
    serialize: async (db, row) => (await serializeApplications(db, [row]))[0],
    model: (row) => ({ name: "application", pk: row.app_uuid, label: row.slug }),
  });
  const checkAccess = new Elysia({ prefix: "/core/applications" }).use(authenticated(ctx)).get(
    "/:key/check_access/",
    async ({ actor, meta, params, search }) => {
      const forUser = intListParam(search, "for_user")[0];
      if (forUser !== undefined && forUser !== actor.user.id && !actor.superuser)
        throw forbidden("AP0012CheckOthers");
      const user = forUser === undefined ? actor.user : await findUser(ctx.store.db, forUser);
      if (!user) throw notFound("AP0013UserNotFound", "User not found.");
      const app = await getApplication(ctx.store.db, slugKey(params.key));
      const result = await checkApplicationAccess(ctx, app, { user, http: http(meta), context: {} });
      return { passing: result.passing, messages: result.messages, log_messages: [] };
    },
    { detail: { tags: ["core"], operationId: "core_applications_check_access_retrieve" } },
  );
  return new Elysia().use(checkAccess).use(crud);
}
