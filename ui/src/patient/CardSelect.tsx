// The card a payment charges, chosen among the patient's chargeable cards (see hooks/useCardChoice).
import type { CardView_Serialize } from "../bindings";

export function CardSelect({
  name,
  compatible,
  cardId,
  onChange,
  disabled = false,
  testId,
}: {
  name: string;
  compatible: CardView_Serialize[];
  cardId: number | null;
  onChange: (id: number) => void;
  disabled?: boolean;
  testId?: string;
}) {
  return (
    <label>
      Card
      <select name={name} value={cardId ?? ""} onChange={(e) => onChange(Number(e.target.value))} disabled={disabled} data-testid={testId}>
        {compatible.map((c) => (
          <option key={c.id} value={c.id}>
            {c.description} · expires {c.expiry}
            {c.is_default ? " · default" : ""}
          </option>
        ))}
      </select>
    </label>
  );
}
