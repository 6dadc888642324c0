// Byte values and names that log text is read and written with, in every stage.

export const LF = 10;
export const CR = 13;
export const SPACE = 32;
export const QUOTE = 34;
export const BACKSLASH = 92;
export const QUESTION = 63;

/** Month names as Common Log Format writes them. */
export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
