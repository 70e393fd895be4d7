/** Who calls the API, and who may call what. */

/**
 * An authenticated client: the name of its key (`AUTH_MODE=keys`) or API Gateway's id of its key (`gateway`).
 * Never the key itself.
 */
export interface Principal {
  readonly id: string;
  /** May read operator routes (GET /metrics). */
  readonly operator: boolean;
}

/** Who may call a route: anyone (`public`), any client with a valid key, or an operator's key only. */
export type Access = 'public' | 'client' | 'operator';

/** The operator list's wildcard: every valid key is an operator's. */
export const ANY_PRINCIPAL = '*';

export const principal = (id: string, operators: readonly string[]): Principal => ({
  id,
  operator: operators.includes(ANY_PRINCIPAL) || operators.includes(id),
});
