// A shopping cart total: prices in cents, an optional percentage discount.
export function total(items, discountPercent = 0) {
  const sum = items.reduce((acc, item) => acc + item.priceCents * item.quantity, 0);
  // Bug: the discount is added instead of taken off.
  return Math.round(sum + (sum * discountPercent) / 100);
}
