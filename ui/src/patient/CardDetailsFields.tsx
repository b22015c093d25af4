// The card's details typed at the desk before its number goes into the gateway's card window: the
// cardholder's name and billing country (required on both gateways' forms, nothing filled in for staff)
// and an optional nickname. Add payment method and Take a payment with a new card share them.
import { useState } from "react";
import type { NewCardDetails_Deserialize } from "../bindings";

const COUNTRIES: [string, string][] = [
  ["US", "United States"],
  ["CA", "Canada"],
  ["GB", "United Kingdom"],
  ["AU", "Australia"],
  ["NZ", "New Zealand"],
  ["IE", "Ireland"],
  ["MX", "Mexico"],
];

/** The fields' state, and the details as the backend takes them. */
export function useCardDetails() {
  const [name, setName] = useState("");
  const [country, setCountry] = useState("");
  const [nickname, setNickname] = useState("");
  const details: NewCardDetails_Deserialize = {
    cardholder_name: name.trim() || null,
    country: country || null,
    nickname: nickname.trim() || null,
  };
  return { name, setName, country, setCountry, nickname, setNickname, details };
}

export function CardDetailsFields({
  patientName,
  fields,
  withNickname = true,
  disabled = false,
}: {
  patientName: string;
  fields: ReturnType<typeof useCardDetails>;
  withNickname?: boolean;
  disabled?: boolean;
}) {
  return (
    <>
      <label>
        Cardholder name
        <input
          name="cardholder"
          value={fields.name}
          required
          maxLength={100}
          disabled={disabled}
          placeholder={`As on the card, e.g. ${patientName}`}
          onChange={(e) => fields.setName(e.target.value)}
          autoComplete="cc-name"
          data-testid="cardholder-name"
        />
      </label>
      <label>
        Billing country
        <select
          name="country"
          value={fields.country}
          required
          disabled={disabled}
          onChange={(e) => fields.setCountry(e.target.value)}
          data-testid="card-country"
        >
          <option value="" disabled>
            Choose…
          </option>
          {COUNTRIES.map(([code, label]) => (
            <option key={code} value={code}>
              {label}
            </option>
          ))}
        </select>
      </label>
      {withNickname && (
        <label>
          <span>
            Nickname <span className="muted">(optional)</span>
          </span>
          <input
            name="nickname"
            value={fields.nickname}
            maxLength={40}
            disabled={disabled}
            placeholder="e.g. Work card"
            onChange={(e) => fields.setNickname(e.target.value)}
          />
        </label>
      )}
    </>
  );
}
