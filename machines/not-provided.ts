// Machines declare the actors they invoke but never implement them: actors/ does, through
// .provide(). Until then an actor is this placeholder, which fails loudly if ever run.
export const notProvided = (machine: string, actor: string) => () => {
  throw new Error(`${machine} machine: actor "${actor}" was not provided`);
};
