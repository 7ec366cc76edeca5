/** Styles shared by every page: readable on a phone, visible focus, enough contrast. */
import { css } from "lit";

export const base = css`
  :host {
    display: block;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    color: #1b1d21;
    line-height: 1.45;
  }
  h1 {
    font-size: 1.5rem;
    margin: 0 0 1rem;
  }
  label {
    display: block;
    font-weight: 600;
    margin: 0.9rem 0 0.3rem;
  }
  input[type="text"],
  input[type="password"],
  input[type="email"] {
    width: 100%;
    box-sizing: border-box;
    padding: 0.6rem 0.7rem;
    font-size: 1rem;
    border: 1px solid #8a8d93;
    border-radius: 6px;
  }
  input:focus-visible,
  button:focus-visible,
  a:focus-visible {
    outline: 3px solid #2563eb;
    outline-offset: 2px;
  }
  button {
    margin-top: 1.1rem;
    width: 100%;
    padding: 0.7rem 1rem;
    font-size: 1rem;
    font-weight: 600;
    color: #fff;
    background: #1d4ed8;
    border: none;
    border-radius: 6px;
    cursor: pointer;
  }
  button.secondary {
    color: #1d4ed8;
    background: transparent;
    border: 1px solid #1d4ed8;
  }
  button[disabled] {
    opacity: 0.6;
    cursor: progress;
  }
  .error {
    color: #b42318;
    margin: 0.5rem 0 0;
  }
  .muted {
    color: #555b66;
  }
  .user {
    display: flex;
    align-items: center;
    gap: 0.6rem;
    margin-bottom: 0.5rem;
  }
  .user img {
    width: 2rem;
    height: 2rem;
    border-radius: 50%;
  }
  code {
    font-size: 0.95rem;
  }
`;
