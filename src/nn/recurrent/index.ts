// Filled by the recurrent work item.
export {};
