// Filled by the losses work item.
export {};
