import type { Money } from "../bindings";
import { formatMoney } from "../format";

/** A table cell with an amount, right-aligned. */
export function MoneyCell({ money }: { money: Money }) {
  return <td className="money">{formatMoney(money)}</td>;
}
