//! The graph of structs containing structs, and what it implies for the generated code:
//! cycles without indirection, how deep structs nest, how large a value is held inline.
//!
//! Every walk here is iterative and linear in the size of the schema, so a schema of a
//! megabyte with thousands of structs chained together is checked in milliseconds and
//! cannot exhaust the checker's stack.

use std::collections::HashMap;

use crate::model::{Field, Struct, Type};

/// Edges from each struct (by index) to the structs its fields hold, with the field name.
/// `direct` edges are held inline (a field of the struct's type or an array of it);
/// `all` edges include those through a list.
pub struct Graph<'s> {
    /// The structs, by index.
    pub structs: &'s [Struct],
    direct: Vec<Vec<(usize, &'s str)>>,
    all: Vec<Vec<usize>>,
}

impl<'s> Graph<'s> {
    /// Builds the graph; names that are not declared structs are ignored.
    pub fn new(structs: &'s [Struct]) -> Self {
        let index: HashMap<&str, usize> = structs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut direct = vec![Vec::new(); structs.len()];
        let mut all = vec![Vec::new(); structs.len()];
        for (i, s) in structs.iter().enumerate() {
            for f in &s.fields {
                let mut t = &f.ty;
                let mut through_list = false;
                loop {
                    match t {
                        Type::Array(inner, _) => t = inner,
                        Type::List(inner, _) => {
                            through_list = true;
                            t = inner;
                        }
                        _ => break,
                    }
                }
                if let Type::Struct(target) = t {
                    if let Some(&j) = index.get(target.as_str()) {
                        all[i].push(j);
                        if !through_list {
                            direct[i].push((j, f.name.as_str()));
                        }
                    }
                }
            }
        }
        Graph {
            structs,
            direct,
            all,
        }
    }

    /// One cycle of direct edges per group of structs that contain each other without a
    /// list in between, as `(struct, field)` steps starting from the group's first struct
    /// in declaration order; in declaration order of those first structs.
    pub fn direct_cycles(&self) -> Vec<Vec<(usize, &'s str)>> {
        let adjacency: Vec<Vec<usize>> = self
            .direct
            .iter()
            .map(|e| e.iter().map(|&(j, _)| j).collect())
            .collect();
        let (component, count) = components(&adjacency);
        let mut size = vec![0usize; count];
        for &c in &component {
            size[c] += 1;
        }
        let mut cycles = Vec::new();
        let mut done = vec![false; count];
        for start in 0..self.structs.len() {
            let c = component[start];
            let self_loop = self.direct[start].iter().any(|&(j, _)| j == start);
            if done[c] || (size[c] == 1 && !self_loop) {
                continue;
            }
            done[c] = true;
            // Breadth-first search inside the component for the shortest way back.
            let mut from: HashMap<usize, (usize, &str)> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut closing = None;
            'search: while let Some(n) = queue.pop_front() {
                for &(j, field) in &self.direct[n] {
                    if component[j] != c {
                        continue;
                    }
                    if j == start {
                        closing = Some((n, field));
                        break 'search;
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = from.entry(j) {
                        e.insert((n, field));
                        queue.push_back(j);
                    }
                }
            }
            let Some((last, field)) = closing else {
                continue;
            };
            let mut steps = vec![(last, field)];
            let mut n = last;
            while n != start {
                let Some(&(p, f)) = from.get(&n) else { break };
                steps.push((p, f));
                n = p;
            }
            steps.reverse();
            cycles.push(steps);
        }
        cycles
    }

    /// For each struct, the longest chain of structs that its values can nest (itself
    /// included), counting every struct of a recursive group once: how deep a decoder or
    /// a schema comparison descends below it. Also the next struct on that chain.
    pub fn nesting(&self) -> Vec<(usize, Option<usize>)> {
        let (component, count) = components(&self.all);
        let mut size = vec![0usize; count];
        for &c in &component {
            size[c] += 1;
        }
        // Components come out of `components` in reverse topological order: every
        // component reachable from another is numbered lower.
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (i, &c) in component.iter().enumerate() {
            members[c].push(i);
        }
        let mut depth_of = vec![(0usize, None); count];
        for c in 0..count {
            let mut best: (usize, Option<usize>) = (0, None);
            for &i in &members[c] {
                for &j in &self.all[i] {
                    let d = component[j];
                    if d != c && depth_of[d].0 > best.0 {
                        best = (depth_of[d].0, Some(j));
                    }
                }
            }
            depth_of[c] = (best.0 + size[c], best.1);
        }
        component.iter().map(|&c| depth_of[c]).collect()
    }

    /// For each struct, an upper bound of its size in the generated Rust (`size_of`),
    /// following [`inline_size`]. Needs a graph without direct cycles.
    pub fn inline_sizes(&self) -> Vec<usize> {
        let adjacency: Vec<Vec<usize>> = self
            .direct
            .iter()
            .map(|e| e.iter().map(|&(j, _)| j).collect())
            .collect();
        let (component, _) = components(&adjacency);
        let mut order: Vec<usize> = (0..self.structs.len()).collect();
        order.sort_by_key(|&i| component[i]);
        let index: HashMap<&str, usize> = self
            .structs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut sizes = vec![0usize; self.structs.len()];
        for i in order {
            let size = record_size(&self.structs[i].fields, &|name| {
                index.get(name).map_or(0, |&j| sizes[j])
            });
            sizes[i] = size;
        }
        sizes
    }
}

/// Upper bound of the size of a record with these fields in the generated Rust, given the
/// sizes of the structs it holds: each field rounded up to 8 bytes, 8 more for an
/// optional one.
pub fn record_size(fields: &[Field], struct_size: &dyn Fn(&str) -> usize) -> usize {
    fields.iter().fold(0usize, |acc, f| {
        let v = inline_size(&f.ty, struct_size);
        let v = if f.optional { v.saturating_add(8) } else { v };
        acc.saturating_add(v.div_ceil(8).saturating_mul(8))
    })
}

/// Upper bound of the size of a value of type `t` in the generated Rust: scalars their
/// width, `String`/`Vec` 24 bytes, arrays of more than 32 elements a box (8 bytes), other
/// arrays their elements.
pub fn inline_size(t: &Type, struct_size: &dyn Fn(&str) -> usize) -> usize {
    match t {
        Type::String | Type::Bytes | Type::List(..) => 24,
        Type::Array(_, n) if crate::rust::is_boxed(*n) => 8,
        Type::Array(inner, n) => inline_size(inner, struct_size).saturating_mul(*n),
        Type::Struct(name) => struct_size(name),
        other => other.fixed_width().unwrap_or(8),
    }
}

/// Strongly connected components (iterative Tarjan): the component of each node and the
/// number of components, numbered in reverse topological order.
fn components(adjacency: &[Vec<usize>]) -> (Vec<usize>, usize) {
    const UNSEEN: usize = usize::MAX;
    let n = adjacency.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut count = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, next edge to look at)
        let mut work = vec![(root, 0usize)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&w) = adjacency[v].get(*edge) {
                *edge += 1;
                if index[w] == UNSEEN {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = count;
                    if w == v {
                        break;
                    }
                }
                count += 1;
            }
        }
    }
    (component, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_in_reverse_topological_order() {
        // 0 -> 1 -> 2 -> 1, 3 alone.
        let (c, n) = components(&[vec![1], vec![2], vec![1], vec![]]);
        assert_eq!(n, 3);
        assert_eq!(c[1], c[2]);
        assert!(c[1] < c[0]);
    }

    #[test]
    fn a_long_chain_does_not_recurse() {
        let n = 200_000;
        let adjacency: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] })
            .collect();
        let (_, count) = components(&adjacency);
        assert_eq!(count, 1);
    }
}
